//! Shared links: the part after `#` holds the scenario, the seed, the learner's actions at their
//! moments and the moment on screen, so opening the link plays exactly the same run to exactly
//! the same place.
//!
//! `#scenario=ID&seed=N&at=UNITS.MS&actions=UNITS.MS.ACTION~UNITS.MS.ACTION`, each value
//! percent-encoded; an action is written in the scenario's one-line action language
//! (`crash broker 1`, `heal`, ...). A link may also name a lesson and its step
//! (`&lesson=why-a-log&step=2`, the step counted from 1); `#lesson=why-a-log` alone opens the
//! lesson on its own scenario and seed.

use gregor_core::time::Instant;
use gregor_sim::scenario::Scenario;
use gregor_sim::session::{Moment, Session};

/// What a link holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The scenario's id (see [`crate::builtin::scenario`]).
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The learner's actions.
    pub actions: Vec<(Moment, String)>,
    /// The moment on screen.
    pub at: Option<Moment>,
    /// A time to play to, for links written by hand (`t=16000`); `at` wins when both are given.
    pub time_ms: Option<u64>,
    /// The lesson followed, by id.
    pub lesson: Option<String>,
    /// Its current step, from 0.
    pub step: Option<usize>,
}

impl Link {
    /// The link of a session showing its current moment.
    pub fn of(scenario: &str, session: &Session) -> Link {
        Link {
            scenario: scenario.to_string(),
            seed: session.seed(),
            actions: session
                .actions()
                .iter()
                .map(|a| (a.at, a.action.to_string()))
                .collect(),
            at: Some(session.moment()),
            time_ms: None,
            lesson: None,
            step: None,
        }
    }

    /// The text after `#`.
    pub fn encode(&self) -> String {
        let mut out = format!("scenario={}&seed={}", encode(&self.scenario), self.seed);
        if let Some(at) = self.at {
            out.push_str(&format!("&at={}.{}", at.units, at.time_ms));
        }
        if !self.actions.is_empty() {
            let actions: Vec<String> = self
                .actions
                .iter()
                .map(|(m, a)| format!("{}.{}.{}", m.units, m.time_ms, encode(a)))
                .collect();
            out.push_str(&format!("&actions={}", actions.join("~")));
        }
        if let Some(lesson) = &self.lesson {
            out.push_str(&format!("&lesson={}", encode(lesson)));
            if let Some(step) = self.step {
                out.push_str(&format!("&step={}", step + 1));
            }
        }
        out
    }

    /// Reads the text after `#` (with or without the `#`). Errors name the field at fault.
    pub fn decode(text: &str) -> Result<Link, String> {
        let text = text.strip_prefix('#').unwrap_or(text);
        let mut link = Link {
            scenario: crate::builtin::shipped_ids()
                .next()
                .unwrap_or_default()
                .to_string(),
            seed: 1,
            actions: Vec::new(),
            at: None,
            time_ms: None,
            lesson: None,
            step: None,
        };
        let mut seed = None;
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("link field `{pair}` has no value (write `key=value`)"))?;
            match key {
                "scenario" => link.scenario = decode(value, "scenario")?,
                "seed" => {
                    seed = Some(value.parse().map_err(|_| {
                        format!("link field `seed`: `{value}` is not a whole number")
                    })?);
                }
                "at" => link.at = Some(moment(value, "at")?),
                "t" => {
                    link.time_ms = Some(value.parse().map_err(|_| {
                        format!("link field `t`: `{value}` is not a whole number of milliseconds")
                    })?);
                }
                "lesson" => link.lesson = Some(decode(value, "lesson")?),
                "step" => {
                    let n: usize = value.parse().ok().filter(|&n| n >= 1).ok_or_else(|| {
                        format!("link field `step`: `{value}` is not a step number (from 1)")
                    })?;
                    link.step = Some(n - 1);
                }
                "actions" => {
                    for (i, item) in value.split('~').enumerate() {
                        let field = format!("actions, item {}", i + 1);
                        let mut parts = item.splitn(3, '.');
                        let (Some(units), Some(ms), Some(action)) =
                            (parts.next(), parts.next(), parts.next())
                        else {
                            return Err(format!(
                                "link field `{field}`: `{item}` is not `UNITS.MS.ACTION`"
                            ));
                        };
                        let at = moment(&format!("{units}.{ms}"), &field)?;
                        link.actions.push((at, decode(action, &field)?));
                    }
                }
                other => return Err(format!("link field `{other}` is not known")),
            }
        }
        link.seed = seed.unwrap_or(link.seed);
        Ok(link)
    }

    /// Plays the link: its scenario under its seed, its actions at their moments, to its moment.
    pub fn open(&self) -> Result<Session, String> {
        let scenario = crate::builtin::scenario(&self.scenario)?;
        self.open_with(scenario)
    }

    /// Plays the link on a scenario the caller already has. An action at unit count 0 (a link
    /// written by hand: `0.2000.crash broker 2`) is taken when the clock reaches its time.
    pub fn open_with(&self, scenario: Scenario) -> Result<Session, String> {
        let mut actions = Vec::new();
        for (i, (at, text)) in self.actions.iter().enumerate() {
            let action = scenario
                .parse_action(text)
                .map_err(|e| format!("link field `actions`, item {}: {e}", i + 1))?;
            actions.push((i, *at, action));
        }
        let mut session = Session::new(scenario, self.seed).map_err(|e| e.to_string())?;
        for (i, at, action) in actions {
            let taken = if at.units == 0 {
                session.act_at_time(Instant(at.time_ms), action)
            } else {
                session.act_at(at, action)
            };
            if !taken {
                return Err(format!(
                    "link field `actions`, item {}: not a moment of this run (it comes before the one above it or before the cluster was ready, or this seed never reaches it)",
                    i + 1
                ));
            }
        }
        if let Some(at) = self.at
            && at != session.moment()
        {
            // Before the last action (the author rewound) or after it: play exactly there.
            session.rewind_to(at);
        } else if let Some(t) = self.time_ms
            && self.at.is_none()
        {
            session.play_until(Instant(t));
        }
        Ok(session)
    }
}

fn moment(text: &str, field: &str) -> Result<Moment, String> {
    let (units, ms) = text
        .split_once('.')
        .ok_or_else(|| format!("link field `{field}`: `{text}` is not `UNITS.MS`"))?;
    let number = |n: &str| {
        n.parse::<u64>()
            .map_err(|_| format!("link field `{field}`: `{n}` is not a whole number"))
    };
    Ok(Moment {
        units: number(units)?,
        time_ms: number(ms)?,
    })
}

/// Percent-encodes everything but letters, digits and `-_/,:`.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_/,:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(text: &str, field: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3).unwrap_or("");
                let b = u8::from_str_radix(hex, 16).map_err(|_| {
                    format!("link field `{field}`: `%{hex}` is not a percent escape")
                })?;
                out.push(b);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("link field `{field}` is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_core::ids::BrokerId;
    use gregor_sim::scenario::{Action, Target};

    #[test]
    fn a_link_opens_the_same_run_at_the_same_moment() {
        let scenario = crate::builtin::scenario("leader-failover").unwrap();
        let mut s = Session::new(scenario, 7).unwrap();
        s.play_until(Instant(3_000));
        s.act(Action::Crash(Target::Broker(BrokerId(2))));
        s.play_until(Instant(6_500));
        s.act(Action::Restart(Target::Broker(BrokerId(2))));
        s.play_until(Instant(9_000));
        let text = Link::of("leader-failover", &s).encode();
        assert!(text.contains("crash%20broker%202"), "{text}");
        let link = Link::decode(&format!("#{text}")).unwrap();
        let opened = link.open().unwrap();
        assert_eq!(opened.moment(), s.moment());
        assert_eq!(opened.world().digest(), s.world().digest());
        assert_eq!(opened.actions(), s.actions());
    }

    #[test]
    fn a_bad_link_names_the_field_at_fault() {
        for (text, why) in [
            ("seed=x", "`seed`"),
            ("scenario=leader-failover&at=12", "`at`"),
            ("actions=1.2", "`actions, item 1`"),
            (
                "actions=1.2.crash%20broker%201~x.2.heal",
                "`actions, item 2`",
            ),
            ("colour=blue", "`colour` is not known"),
            ("scenario=a%zz", "percent escape"),
            ("seed", "has no value"),
        ] {
            let err = Link::decode(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
        let link = Link::decode("scenario=leader-failover&actions=5.5.crash%20broker%209").unwrap();
        let err = link.open().err().unwrap();
        assert!(err.contains("item 1") && err.contains("broker 9"), "{err}");
        let link = Link::decode("scenario=nothing").unwrap();
        assert!(link.open().err().unwrap().contains("no scenario"));
    }

    #[test]
    fn a_hand_written_link_plays_to_its_time() {
        let link = Link::decode("scenario=leader-failover&seed=2&t=16000").unwrap();
        let s = link.open().unwrap();
        assert_eq!(s.moment().time_ms, 16_000);
        assert!(Link::decode("t=soon").unwrap_err().contains("`t`"));
        let link =
            Link::decode("scenario=min-isr&actions=0.2000.crash%20broker%202&t=3000").unwrap();
        let s = link.open().unwrap();
        assert_eq!(s.actions().len(), 1);
        assert_eq!(s.actions()[0].at.time_ms, 2_000);
        assert_eq!(
            s.world()
                .status(gregor_core::ids::NodeId::Broker(BrokerId(2))),
            gregor_sim::world::Status::Crashed
        );
        let backwards = Link::decode("scenario=min-isr&actions=0.3000.heal~0.2000.heal").unwrap();
        assert!(backwards.open().err().unwrap().contains("item 2"));
    }

    #[test]
    fn an_empty_link_opens_the_default_scenario() {
        let link = Link::decode("").unwrap();
        assert_eq!(
            Some(link.scenario.as_str()),
            crate::builtin::shipped_ids().next()
        );
        assert_eq!(link.seed, 1);
    }
}
