//! The classroom's yew app: it holds a [`Session`], plays it on animation frames, turns the
//! learner's clicks and keys into actions in the scenario's action language, keeps the page's
//! link in step with the session, and draws [`crate::view`]'s picture of it.

use crate::charts::{self, Series};
use crate::course::{self, Progress, StepStatus, Tutor};
use crate::library::Custom;
use crate::share::Link;
use crate::view::{self, ClassroomView, PartitionView, ReplicaView, Tally};
use gregor_core::time::Instant;
use gregor_sim::classroom;
use gregor_sim::lesson::CheckedLesson;
use gregor_sim::session::Session;
use gregor_sim::world::Status;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{HtmlInputElement, HtmlSelectElement, KeyboardEvent};
use yew::prelude::*;

/// Virtual milliseconds per real millisecond, from slow motion to fast: the speed, its value
/// in the speed menu (which links and the browser test choose by), and its name there. The menu
/// looks its value up here rather than parsing it, which keeps the float parser out of the page.
const SPEEDS: [(f64, &str, &str); 6] = [
    (0.05, "0.05", "slow motion (1/20)"),
    (0.25, "0.25", "1/4"),
    (1.0, "1", "real time"),
    (4.0, "4", "4×"),
    (16.0, "16", "16×"),
    (64.0, "64", "64×"),
];

/// How many frame times the page keeps for the browser test to read.
const FRAMES_KEPT: usize = 600;

/// The charts a round draws (see `App::draw_charts`).
const CHARTS: u8 = 3;

/// Times the page publishes on `window` for the browser test: a JavaScript array kept to the
/// last [`FRAMES_KEPT`] values, appended to in place (a frame must not copy the whole list).
struct Published(js_sys::Array);

impl Published {
    /// An empty list published as `window[name]`.
    fn new(name: &str) -> Published {
        let array = js_sys::Array::new();
        let _ = js_sys::Reflect::set(&window(), &name.into(), &array);
        Published(array)
    }

    fn push(&self, value: f64) {
        self.0.push(&JsValue::from(value));
        if self.0.length() as usize > FRAMES_KEPT {
            self.0.shift();
        }
    }
}

/// What the learner and the browser tell the app.
pub enum Msg {
    /// An animation frame at this `performance.now()`.
    Frame(f64),
    /// Play or pause.
    TogglePlay,
    /// One unit forward.
    Step,
    /// One unit back.
    StepBack,
    /// Back to the moment the cluster was ready.
    Restart,
    /// Virtual ms per real ms.
    Speed(f64),
    /// Go to this virtual time (back: a rewind; forward: play there).
    Scrub(u64),
    /// Take an action, in the scenario's action language.
    Act(String),
    /// Pick a scenario by id.
    Pick(String),
    /// A new seed.
    Seed(u64),
    /// Copy the link to the clipboard.
    Share,
    /// A trace file's text, with its name.
    Trace(String, String),
    /// A key was pressed.
    Key(KeyboardEvent),
    /// The link changed (the learner pasted another one).
    HashChanged,
    /// Send the record the produce form describes.
    Produce,
    /// The produce form's acks changed.
    ProduceAcks(String),
    /// Scroll to a partition's card and flash it.
    Point(String),
    /// Open or close the lessons panel.
    ToggleLessons,
    /// The lessons were fetched (or could not be): take them, then go on with the message.
    LessonsLoaded(Box<Msg>),
    /// Follow a lesson of the course, from its first step (on its scenario and seed).
    OpenLesson(usize),
    /// Stop following the lesson.
    CloseLesson,
    /// Go to a step of the lesson followed.
    GoStep(usize),
    /// Take the current step's actions and play.
    ShowMe,
}

/// Where the learner's progress is kept in the browser.
const PROGRESS_KEY: &str = "gregor.lessons.progress";

/// The classroom.
pub struct App {
    scenario_id: String,
    session: Option<Session>,
    error: Option<String>,
    notice: Option<String>,
    tally: Tally,
    playing: bool,
    speed: f64,
    last_frame: Option<f64>,
    furthest_ms: u64,
    frame: Option<Closure<dyn FnMut(f64)>>,
    frame_times: Published,
    charts_drawn_at: Option<(u64, u64)>,
    /// When the charts were last drawn, in `performance.now()` milliseconds.
    charts_drawn_real: f64,
    /// Charts of the current round still to draw, one per frame while playing.
    charts_pending: u8,
    /// When this frame's work began (`performance.now()`), to time it in `rendered`.
    frame_began: Option<f64>,
    /// How long the last frames' work took (update, view and charts), in milliseconds.
    work_times: Published,
    /// The produce form's `acks`, kept here so a redraw never changes the learner's choice.
    produce_acks: String,
    /// The course, or why it could not be read; `None` until the lessons are loaded, which
    /// happens when the panel first opens or a link names a lesson.
    course: Option<Result<Vec<CheckedLesson>, String>>,
    /// The lesson followed.
    tutor: Option<Tutor>,
    /// The current step's status, after the last update.
    step_status: Option<StepStatus>,
    /// Steps done, by lesson.
    progress: Progress,
    /// Whether the lessons panel is open.
    lessons_open: bool,
    _listeners: Vec<Closure<dyn FnMut(web_sys::Event)>>,
}

fn window() -> web_sys::Window {
    web_sys::window().expect("the classroom runs in a browser window")
}

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

fn load_progress() -> String {
    storage()
        .and_then(|s| s.get_item(PROGRESS_KEY).ok().flatten())
        .unwrap_or_default()
}

fn save_progress(text: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(PROGRESS_KEY, text);
    }
}

fn hash() -> String {
    window().location().hash().unwrap_or_default()
}

impl App {
    fn open(&mut self, link: &Link) {
        // A link that names a lesson opens it, on the lesson's scenario and seed unless the
        // link gives that scenario (with the learner's actions).
        let mut link = link.clone();
        self.tutor = None;
        self.step_status = None;
        // Said once the link's run is open (which clears older errors).
        let mut lesson_error = None;
        if let Some(id) = &link.lesson {
            let course = match &self.course {
                Some(Ok(course)) => Ok(course),
                Some(Err(e)) => Err(e.as_str()),
                // Whoever opens a link that names a lesson loads the lessons first.
                None => Err("they are not loaded"),
            };
            match course.map(|c| (c, c.iter().position(|l| &l.lesson.id == id))) {
                Err(why) => lesson_error = Some(format!("The lessons could not be read: {why}")),
                Ok((course, Some(index))) => {
                    let lesson = &course[index].lesson;
                    if link.scenario != lesson.scenario.value {
                        link.scenario = lesson.scenario.value.clone();
                        link.seed = lesson.seed;
                        link.actions.clear();
                        link.at = None;
                    }
                    let step = link.step.unwrap_or(0).min(lesson.steps.len() - 1);
                    self.tutor = Some(Tutor::new(index, step));
                    self.lessons_open = true;
                }
                Ok((_, None)) => lesson_error = Some(format!("No lesson is called `{id}`.")),
            }
        }
        let link = &link;
        match link.open() {
            Ok(session) => {
                self.scenario_id = link.scenario.clone();
                self.furthest_ms = session.moment().time_ms;
                self.tally = Tally::default();
                self.tally.update(&session);
                self.session = Some(session);
                self.error = lesson_error;
                self.charts_drawn_at = None;
            }
            Err(e) => self.error = Some(format!("This link could not be opened: {e}")),
        }
    }

    fn write_link(&self) {
        // A trace's run cannot be rebuilt from a link: its scenario is in the file.
        if self.scenario_id == "trace" {
            return;
        }
        if let Some(s) = &self.session {
            let text = format!("#{}", self.link_of(s).encode());
            if text != hash()
                && let Ok(history) = window().history()
            {
                let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&text));
            }
        }
    }

    /// The link of what is on screen, with the lesson followed.
    fn link_of(&self, s: &Session) -> Link {
        let mut link = Link::of(&self.scenario_id, s);
        if let (Some(t), Some(Ok(course))) = (&self.tutor, &self.course) {
            link.lesson = Some(t.lesson(course).id.clone());
            link.step = Some(t.step);
        }
        link
    }

    /// Evaluates the current step's check; a step done is kept in local storage.
    fn observe_lesson(&mut self) {
        let (Some(t), Some(Ok(course)), Some(s)) = (&mut self.tutor, &self.course, &self.session)
        else {
            self.step_status = None;
            return;
        };
        let (status, new) = t.observe(course, s, &self.tally.live, &mut self.progress);
        if new {
            save_progress(&self.progress.encode());
        }
        self.step_status = Some(status);
    }

    fn request_frame(&mut self, ctx: &Context<Self>) {
        let link = ctx.link().clone();
        let callback = Closure::once(move |t: f64| link.send_message(Msg::Frame(t)));
        let _ = window().request_animation_frame(callback.as_ref().unchecked_ref());
        self.frame = Some(callback);
    }

    fn record_frame(&mut self, t: f64) {
        if let Some(last) = self.last_frame {
            self.frame_times.push(t - last);
        }
        self.last_frame = Some(t);
    }

    fn act(&mut self, text: &str) {
        let Some(s) = &mut self.session else { return };
        match s.scenario().parse_action(text) {
            Ok(action) => {
                s.act(action);
                self.notice = Some(format!("You: {text}"));
                self.write_link();
            }
            Err(e) => self.error = Some(format!("`{text}` cannot be done here: {e}")),
        }
    }

    /// The `send` action the produce form describes: the console producer of the chosen topic
    /// and acks, with the key and value typed (either may be empty).
    fn produce_action(&self) -> Option<String> {
        let s = self.session.as_ref()?;
        let document = window().document()?;
        let field = |id: &str| -> String {
            document
                .get_element_by_id(id)
                .and_then(|e| e.dyn_into::<HtmlInputElement>().ok().map(|i| i.value()))
                .or_else(|| {
                    document
                        .get_element_by_id(id)
                        .and_then(|e| e.dyn_into::<HtmlSelectElement>().ok().map(|i| i.value()))
                })
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        let topics = &s.scenario().topics;
        let topic = topics
            .iter()
            .find(|t| t.name.as_str() == field("produce-topic"))
            .or(topics.first())?;
        let acks = &self.produce_acks;
        let producer = classroom::console_producer(s.scenario(), &topic.name, acks);
        let mut text = format!("send {producer}");
        for (name, value) in [
            ("key", field("produce-key")),
            ("value", field("produce-value")),
        ] {
            if !value.is_empty() {
                text.push_str(&format!(" {name}={value}"));
            }
        }
        Some(text)
    }

    fn draw_charts(&mut self) {
        let Some(s) = &self.session else { return };
        let Some(sampler) = s.run().invariants.sampler.as_ref() else {
            return;
        };
        let samples = sampler.samples();
        let key = (
            samples.len() as u64,
            self.tally.acks_per_second.len() as u64,
        );
        if self.charts_pending == 0 {
            if self.charts_drawn_at == Some(key) {
                return;
            }
            // Three plotters charts take several milliseconds to draw: while playing, a round
            // of them at most four times a second of real time, one chart per frame, so that
            // no single frame carries all three and a replay keeps its frame rate.
            let real = window().performance().map_or(0.0, |p| p.now());
            if self.playing && real - self.charts_drawn_real < 250.0 {
                return;
            }
            self.charts_drawn_real = real;
            self.charts_drawn_at = Some(key);
            self.charts_pending = CHARTS;
        }
        loop {
            let chart = CHARTS - self.charts_pending;
            self.charts_pending -= 1;
            self.draw_chart(chart);
            // Paused, a learner waits for all three at once.
            if self.playing || self.charts_pending == 0 {
                break;
            }
        }
    }

    /// Draws chart `chart` of [`CHARTS`]: high watermarks, lag per group, acks per second.
    fn draw_chart(&self, chart: u8) {
        let Some(s) = &self.session else { return };
        let Some(sampler) = s.run().invariants.sampler.as_ref() else {
            return;
        };
        let samples = sampler.samples();
        let now = s.moment().time_ms;
        let (x0, x1) = (s.start().time_ms as i64, now as i64);
        match chart {
            0 => {
                let partitions = s.scenario().partitions();
                let hw: Vec<Series> = partitions
                    .iter()
                    .enumerate()
                    .map(|(i, tp)| Series {
                        name: tp.to_string(),
                        points: samples
                            .iter()
                            .filter_map(|x| {
                                let hw = x.partitions.get(i)?.high_watermark?;
                                Some((x.time_ms as i64, hw as i64))
                            })
                            .collect(),
                    })
                    .collect();
                charts::draw("chart-hw", &hw, x0, x1, "high watermark");
            }
            1 => {
                let groups: Vec<String> = samples
                    .last()
                    .map(|x| x.group_lag.keys().cloned().collect())
                    .unwrap_or_default();
                let lag: Vec<Series> = groups
                    .iter()
                    .map(|g| Series {
                        name: g.clone(),
                        points: samples
                            .iter()
                            .filter_map(|x| {
                                let lag = (*x.group_lag.get(g)?)?;
                                Some((x.time_ms as i64, lag as i64))
                            })
                            .collect(),
                    })
                    .collect();
                if !lag.is_empty() {
                    charts::draw("chart-lag", &lag, x0, x1, "records behind");
                }
            }
            _ => {
                // The second now running is not over: its count would show as a drop.
                let first = s.start().time_ms / 1000;
                let acks = Series {
                    name: String::new(),
                    points: (first..(now / 1000).max(first + 1))
                        .map(|sec| {
                            let n = self.tally.acks_per_second.get(&sec).copied().unwrap_or(0);
                            (sec as i64 * 1000, n as i64)
                        })
                        .collect(),
                };
                charts::draw("chart-acks", &[acks], x0, x1, "acks per second");
            }
        }
    }
}

impl Component for App {
    type Message = Msg;
    type Properties = ();

    fn create(ctx: &Context<Self>) -> Self {
        let mut app = App {
            scenario_id: crate::builtin::shipped_ids()
                .next()
                .unwrap_or_default()
                .to_string(),
            session: None,
            error: None,
            notice: None,
            tally: Tally::default(),
            playing: false,
            speed: 1.0,
            last_frame: None,
            furthest_ms: 0,
            frame: None,
            frame_times: Published::new("gregorFrameTimes"),
            charts_drawn_at: None,
            charts_drawn_real: 0.0,
            charts_pending: 0,
            frame_began: None,
            work_times: Published::new("gregorWorkTimes"),
            produce_acks: "all".into(),
            // Loaded already when the page's link names a lesson (main waits for them then).
            course: course::course(),
            tutor: None,
            step_status: None,
            progress: Progress::decode(&load_progress()),
            lessons_open: false,
            _listeners: Vec::new(),
        };
        match Link::decode(&hash()) {
            Ok(link) => app.open(&link),
            Err(e) => {
                app.open(&Link::decode("").expect("the empty link"));
                app.error = Some(format!(
                    "This link could not be read: {e}. Showing the default scenario instead."
                ));
            }
        }
        // Nothing plays until the learner presses play, unless the link asked for a moment.
        let document = window().document().expect("a document");
        let link = ctx.link().clone();
        let keys = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
            if let Ok(k) = e.dyn_into::<KeyboardEvent>() {
                link.send_message(Msg::Key(k));
            }
        });
        let _ = document.add_event_listener_with_callback("keydown", keys.as_ref().unchecked_ref());
        let link = ctx.link().clone();
        let hash_changed = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            link.send_message(Msg::HashChanged);
        });
        let _ = window()
            .add_event_listener_with_callback("hashchange", hash_changed.as_ref().unchecked_ref());
        app._listeners = vec![keys, hash_changed];
        app.request_frame(ctx);
        app
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::Frame(t) => {
                self.frame_began = window().performance().map(|p| p.now());
                let elapsed = self.last_frame.map_or(0.0, |last| (t - last).min(100.0));
                self.record_frame(t);
                self.request_frame(ctx);
                if !self.playing {
                    return false;
                }
                if let Some(s) = &mut self.session {
                    let now = s.moment().time_ms;
                    let to = now + (elapsed * self.speed).round().max(1.0) as u64;
                    s.play_until(Instant(to));
                    self.furthest_ms = self.furthest_ms.max(to);
                }
            }
            Msg::TogglePlay => self.playing = !self.playing,
            Msg::Step => {
                self.playing = false;
                if let Some(s) = &mut self.session {
                    s.step();
                    self.furthest_ms = self.furthest_ms.max(s.moment().time_ms);
                }
            }
            Msg::StepBack => {
                self.playing = false;
                if let Some(s) = &mut self.session {
                    s.step_back();
                }
            }
            Msg::Restart => {
                self.playing = false;
                if let Some(s) = &mut self.session {
                    let start = s.start();
                    s.rewind_to(start);
                }
            }
            Msg::Speed(x) => self.speed = x,
            Msg::Scrub(t) => {
                if let Some(s) = &mut self.session {
                    if t < s.moment().time_ms {
                        s.rewind_to_time(Instant(t));
                    } else {
                        s.play_until(Instant(t));
                    }
                }
            }
            Msg::Act(text) => self.act(&text),
            Msg::Pick(id) => {
                self.playing = false;
                let seed = self.session.as_ref().map_or(1, Session::seed);
                self.open(&Link {
                    scenario: id,
                    seed,
                    actions: Vec::new(),
                    at: None,
                    time_ms: None,
                    lesson: None,
                    step: None,
                });
            }
            Msg::Seed(seed) => {
                self.playing = false;
                let id = self.scenario_id.clone();
                self.open(&Link {
                    scenario: id,
                    seed,
                    actions: Vec::new(),
                    at: None,
                    time_ms: None,
                    lesson: None,
                    step: None,
                });
            }
            Msg::Share => {
                self.write_link();
                let href = window().location().href().unwrap_or_default();
                let _ = window().navigator().clipboard().write_text(&href);
                self.notice = Some("Link copied: it opens this run at this moment.".into());
            }
            Msg::Trace(name, text) => match Session::from_compiled_trace(&text) {
                Ok(session) => {
                    self.playing = false;
                    self.scenario_id = "trace".into();
                    self.furthest_ms = session.moment().time_ms;
                    self.notice = Some(format!(
                        "Opened {name}: {} under seed {}. Press play or step through it.",
                        session.scenario().name,
                        session.seed()
                    ));
                    self.tally = Tally::default();
                    self.tally.update(&session);
                    self.session = Some(session);
                    self.charts_drawn_at = None;
                    self.error = None;
                }
                Err(e) => self.error = Some(format!("{name}: {e}")),
            },
            Msg::Key(k) => {
                let target_is_input = k
                    .target()
                    .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
                    .is_some_and(|e| matches!(e.tag_name().as_str(), "INPUT" | "SELECT"));
                if target_is_input {
                    return false;
                }
                let first = self
                    .session
                    .as_ref()
                    .and_then(|s| s.scenario().partitions().first().cloned());
                match k.key().as_str() {
                    " " => {
                        k.prevent_default();
                        self.playing = !self.playing;
                    }
                    "ArrowRight" | "." => return Component::update(self, ctx, Msg::Step),
                    "ArrowLeft" | "," => return Component::update(self, ctx, Msg::StepBack),
                    key @ ("c" | "p" | "i") => {
                        let verb = match key {
                            "c" => "crash",
                            "p" => "pause",
                            _ => "isolate",
                        };
                        if let Some(tp) = first {
                            self.act(&format!("{verb} leader of {tp}"));
                        }
                    }
                    "h" => self.act("heal"),
                    "r" => self.act("restart all"),
                    _ => return false,
                }
            }
            Msg::Produce => {
                if let Some(text) = self.produce_action() {
                    self.act(&text);
                }
            }
            Msg::ProduceAcks(acks) => {
                self.produce_acks = acks;
                return false;
            }
            Msg::ToggleLessons => {
                self.lessons_open = !self.lessons_open;
                // The panel says the lessons are loading until they are.
                if self.lessons_open && self.course.is_none() {
                    load_lessons(ctx, Msg::ToggleLessons);
                }
            }
            Msg::LessonsLoaded(then) => {
                self.course = course::course();
                if self.course.is_none() {
                    return false; // cannot happen: the lessons were just loaded
                }
                // The message that waited for the lessons, now that they are here; a toggle
                // that waited had already opened the panel.
                return match *then {
                    Msg::ToggleLessons => true,
                    then => Component::update(self, ctx, then),
                };
            }
            Msg::OpenLesson(index) => {
                self.playing = false;
                let lesson = match &self.course {
                    Some(Ok(course)) => course.get(index),
                    _ => None,
                }
                .map(|l| l.lesson.clone());
                if let Some(lesson) = lesson {
                    self.open(&Link {
                        scenario: lesson.scenario.value.clone(),
                        seed: lesson.seed,
                        actions: Vec::new(),
                        at: None,
                        time_ms: None,
                        lesson: Some(lesson.id.clone()),
                        step: Some(0),
                    });
                    self.notice = Some(format!("Lesson {}: {}", lesson.number, lesson.title));
                }
            }
            Msg::CloseLesson => {
                self.tutor = None;
                self.step_status = None;
            }
            Msg::GoStep(step) => {
                if let (Some(t), Some(Ok(course))) = (&mut self.tutor, &self.course) {
                    t.go(step.min(t.lesson(course).steps.len().saturating_sub(1)));
                }
            }
            Msg::ShowMe => {
                let actions: Vec<_> = match (&self.tutor, &self.course) {
                    (Some(t), Some(Ok(course))) => course[t.lesson]
                        .steps
                        .get(t.step)
                        .map(|(a, _)| a.clone())
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                if let Some(s) = &mut self.session {
                    for a in actions {
                        let text = a.to_string();
                        s.act(a);
                        self.notice = Some(format!("Shown: {text}"));
                    }
                }
                self.playing = true;
            }
            Msg::Point(tp) => {
                point_at(&tp);
                return false;
            }
            Msg::HashChanged => {
                let current = self
                    .session
                    .as_ref()
                    .map(|s| format!("#{}", self.link_of(s).encode()));
                if current.as_deref() != Some(hash().as_str()) {
                    match Link::decode(&hash()) {
                        Ok(link) if link.lesson.is_some() && self.course.is_none() => {
                            load_lessons(ctx, Msg::HashChanged);
                            return false;
                        }
                        Ok(link) => self.open(&link),
                        Err(e) => self.error = Some(format!("This link could not be read: {e}")),
                    }
                }
            }
        }
        if let Some(s) = &self.session {
            self.tally.update(s);
        }
        self.observe_lesson();
        // The address follows the session whenever it stands still (paused, stepped, rewound),
        // so the address bar is always a link to what is on screen.
        if !self.playing {
            self.write_link();
        }
        true
    }

    fn rendered(&mut self, _ctx: &Context<Self>, first_render: bool) {
        if first_render {
            // The browser test reads when the first view was on screen.
            let now = window().performance().map_or(0.0, |p| p.now());
            let _ = js_sys::Reflect::set(&window(), &"gregorFirstRender".into(), &now.into());
        }
        self.draw_charts();
        if let Some(began) = self.frame_began.take() {
            let now = window().performance().map_or(began, |p| p.now());
            self.work_times.push(now - began);
        }
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let Some(session) = &self.session else {
            return html! {
                <div class="page">
                    { self.header(ctx) }
                    <p class="error">{ self.error.clone().unwrap_or_default() }</p>
                </div>
            };
        };
        let v = view::classroom_view(session, &self.tally);
        let ondrop = link.callback_future(|e: DragEvent| async move {
            e.prevent_default();
            let file = e
                .data_transfer()
                .and_then(|d| d.files())
                .and_then(|f| f.get(0));
            read_file(file).await
        });
        html! {
            <div class="page" ondragover={Callback::from(|e: DragEvent| e.prevent_default())} {ondrop}>
                { self.header(ctx) }
                { self.controls(ctx, session, &v) }
                if let Some(e) = &self.error { <p class="error" role="alert">{ e }</p> }
                if let Some(n) = &self.notice { <p class="notice">{ n }</p> }
                { self.findings(ctx, &v) }
                <main class={classes!("grid", self.lessons_open.then_some("with-lessons"))}>
                    if self.lessons_open { { self.lessons_panel(ctx) } }
                    <section class="cluster">
                        { self.brokers(ctx, &v) }
                        <h2>{ "Partitions" }</h2>
                        <div class="partitions">
                            { for v.partitions.iter().map(|p| self.partition(ctx, p)) }
                        </div>
                    </section>
                    <aside class="side">
                        { self.clients(ctx, &v) }
                        { self.network(ctx, &v) }
                        <h2>{ "Charts" }</h2>
                        <div class="charts">
                            <figure><figcaption>{ "High watermark per partition" }</figcaption>
                                <canvas id="chart-hw" width="440" height="170"></canvas></figure>
                            if !v.groups.is_empty() {
                                <figure><figcaption>{ "Lag per consumer group" }</figcaption>
                                    <canvas id="chart-lag" width="440" height="150"></canvas></figure>
                            }
                            <figure><figcaption>{ "Acknowledged records per second" }</figcaption>
                                <canvas id="chart-acks" width="440" height="150"></canvas></figure>
                        </div>
                    </aside>
                </main>
                { self.timeline(session) }
                <footer>
                    { "Keys: space play/pause · → step · ← step back · c crash the leader of the first partition · p pause it · i isolate it · r restart all · h heal. Drop a trace file anywhere to open it." }
                </footer>
            </div>
        }
    }
}

async fn read_file(file: Option<web_sys::File>) -> Msg {
    let Some(file) = file else {
        return Msg::Trace("(no file)".into(), String::new());
    };
    let name = file.name();
    let text = wasm_bindgen_futures::JsFuture::from(file.text())
        .await
        .ok()
        .and_then(|t| t.as_string())
        .unwrap_or_default();
    Msg::Trace(name, text)
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03} s", ms / 1000, ms % 1000)
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::NotStarted => "not started",
        Status::Running => "running",
        Status::Paused => "paused",
        Status::Crashed => "crashed",
    }
}

impl App {
    fn header(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let onpick = link.callback(|e: Event| {
            let select: HtmlSelectElement = e.target_unchecked_into();
            Msg::Pick(select.value())
        });
        let onseed = link.batch_callback(|e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            input.value().trim().parse().ok().map(Msg::Seed)
        });
        let onfile = link.callback_future(|e: Event| async move {
            let input: HtmlInputElement = e.target_unchecked_into();
            read_file(input.files().and_then(|f| f.get(0))).await
        });
        let custom = Custom::parse(&self.scenario_id).unwrap_or_default();
        let seed = self.session.as_ref().map_or(1, Session::seed);
        let description = self
            .session
            .as_ref()
            .and_then(|s| s.scenario().description.clone())
            .unwrap_or_default();
        html! {
            <header class="top">
                <div class="brand"><span class="logo">{ "G" }</span><h1>{ "Gregor" }<small>{ " classroom" }</small></h1></div>
                <label>{ "Scenario " }
                    <select id="scenario" onchange={onpick}>
                        { for crate::builtin::shipped_ids().map(|id| html! {
                            <option value={id} selected={id == self.scenario_id}>{ id }</option>
                        }) }
                        <option value={custom.id()} selected={self.scenario_id.starts_with("custom-")}>{ "your own cluster…" }</option>
                        if self.scenario_id == "trace" { <option value="trace" selected=true disabled=true>{ "a trace file" }</option> }
                    </select>
                </label>
                if self.scenario_id.starts_with("custom-") { { self.custom_form(ctx, custom) } }
                <label>{ "Seed " }<input id="seed" type="number" min="0" value={seed.to_string()} onchange={onseed} /></label>
                <button id="share" onclick={link.callback(|_| Msg::Share)} title="Copy a link that replays this run to this moment">{ "Copy link" }</button>
                <button id="lessons-toggle" class={classes!("lessons-toggle", self.lessons_open.then_some("on"))}
                    onclick={link.callback(|_| Msg::ToggleLessons)} title="Lessons: an interactive Kafka course">{ "Lessons" }</button>
                <label class="file">{ "Open trace…" }<input id="trace" type="file" accept=".jsonl,.json,.trace" onchange={onfile} /></label>
                <p class="description">{ description }</p>
            </header>
        }
    }

    fn custom_form(&self, ctx: &Context<Self>, c: Custom) -> Html {
        let field = |label: &'static str, value: u32, max: u32, set: fn(Custom, u32) -> Custom| {
            let onchange = ctx.link().batch_callback(move |e: Event| {
                let input: HtmlInputElement = e.target_unchecked_into();
                let n: u32 = input.value().parse().ok()?;
                Some(Msg::Pick(set(c, n).id()))
            });
            html! {
                <label class="small">{ label }<input type="number" min="1" max={max.to_string()} value={value.to_string()} {onchange} /></label>
            }
        };
        html! {
            <span class="custom">
                { field("brokers", c.brokers, 5, |c, n| Custom { brokers: n, replication_factor: c.replication_factor.min(n), min_isr: c.min_isr.min(n), ..c }) }
                { field("partitions", c.partitions, 8, |c, n| Custom { partitions: n, ..c }) }
                { field("RF", c.replication_factor, c.brokers, |c, n| Custom { replication_factor: n, min_isr: c.min_isr.min(n), ..c }) }
                { field("min ISR", c.min_isr, c.replication_factor, |c, n| Custom { min_isr: n, ..c }) }
            </span>
        }
    }

    fn controls(&self, ctx: &Context<Self>, s: &Session, v: &ClassroomView) -> Html {
        let link = ctx.link();
        let start = s.start().time_ms;
        let end = self.furthest_ms.max(v.time_ms).max(start + 1);
        let onscrub = link.batch_callback(|e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            input.value().parse().ok().map(Msg::Scrub)
        });
        let onaction = link.batch_callback(|e: KeyboardEvent| {
            if e.key() != "Enter" {
                return None;
            }
            let input: HtmlInputElement = e.target_unchecked_into();
            let text = input.value().trim().to_string();
            input.set_value("");
            (!text.is_empty()).then_some(Msg::Act(text))
        });
        let onspeed = link.batch_callback(|e: Event| {
            let select: HtmlSelectElement = e.target_unchecked_into();
            let value = select.value();
            SPEEDS
                .iter()
                .find(|(_, v, _)| *v == value)
                .map(|(x, _, _)| Msg::Speed(*x))
        });
        html! {
            <section class="controls">
                <button id="restart" title="Back to the start" onclick={link.callback(|_| Msg::Restart)}>{ "⇤" }</button>
                <button id="step-back" title="One event back (←)" onclick={link.callback(|_| Msg::StepBack)}>{ "◀" }</button>
                <button id="play" class="play" title="Play or pause (space)" onclick={link.callback(|_| Msg::TogglePlay)}>
                    { if self.playing { "❚❚ pause" } else { "▶ play" } }
                </button>
                <button id="step" title="One event forward (→)" onclick={link.callback(|_| Msg::Step)}>{ "▶|" }</button>
                <label>{ "Speed " }
                    <select id="speed" onchange={onspeed}>
                        { for SPEEDS.iter().map(|(x, value, name)| html! {
                            <option value={*value} selected={*x == self.speed}>{ *name }</option>
                        }) }
                    </select>
                </label>
                <input id="action" class="action" type="text" onkeydown={onaction}
                    placeholder="type an action: crash broker 2, clog broker 1 -> console-1, heal …"
                    title="Any action in the scenario's action language (docs/scenarios.md); Enter takes it" />
                <input id="scrubber" class="scrubber" type="range" min={start.to_string()} max={end.to_string()}
                    value={v.time_ms.to_string()} oninput={onscrub} title="Drag back to rewind" />
                <span class="clock" id="clock" data-time={v.time_ms.to_string()}>
                    { seconds(v.time_ms) }<small>{ format!(" · {} events", v.units) }</small>
                </span>
            </section>
        }
    }

    fn brokers(&self, ctx: &Context<Self>, v: &ClassroomView) -> Html {
        let act = |text: String| act(ctx, text);
        let controller = html! {
            <div class={classes!("broker", "controller", status_name(v.controller).replace(' ', "-"))}>
                <div class="name">{ "controller" }<span class="badge">{ "KRaft" }</span></div>
                <div class="state">{ status_name(v.controller) }</div>
                <div class="buttons">
                    if v.controller == Status::Crashed {
                        <button onclick={act("restart controller".into())}>{ "restart" }</button>
                    } else {
                        <button onclick={act("crash controller".into())}>{ "crash" }</button>
                    }
                </div>
            </div>
        };
        html! {
            <div class="brokers">
                { controller }
                { for v.brokers.iter().map(|b| {
                    let name = format!("broker {}", b.id);
                    let state = match (b.status, b.fenced) {
                        (Status::Running, true) => "running, fenced",
                        (s, _) => status_name(s),
                    };
                    html! {
                        <div class={classes!("broker", status_name(b.status).replace(' ', "-"), b.fenced.then_some("fenced"), b.isolated.then_some("isolated"))}
                             data-broker={b.id.to_string()} data-status={status_name(b.status)}>
                            <div class="name">{ format!("B{}", b.id) }
                                if b.leads > 0 { <span class="badge">{ format!("leads {}", b.leads) }</span> }
                                if b.isolated { <span class="badge warn">{ "isolated" }</span> }
                            </div>
                            <div class="state">{ state }</div>
                            <div class="buttons">
                                { match b.status {
                                    Status::Crashed => html! {
                                        <button class="restart" onclick={act(format!("restart {name}"))}>{ "restart" }</button>
                                    },
                                    Status::Paused => html! {
                                        <button onclick={act(format!("resume {name}"))}>{ "resume" }</button>
                                    },
                                    _ => html! { <>
                                        <button class="crash" onclick={act(format!("crash {name}"))}>{ "crash" }</button>
                                        <button onclick={act(format!("power_loss {name}"))} title="Crash and lose unflushed writes">{ "power loss" }</button>
                                        <button onclick={act(format!("pause {name}"))}>{ "pause" }</button>
                                        if !b.isolated {
                                            <button onclick={act(format!("isolate {name}"))}>{ "isolate" }</button>
                                        }
                                    </> },
                                } }
                            </div>
                        </div>
                    }
                }) }
            </div>
        }
    }

    fn partition(&self, ctx: &Context<Self>, p: &PartitionView) -> Html {
        let act = |text: String| act(ctx, text);
        let tp = p.topic_partition.to_string();
        let topic = p.topic_partition.topic.to_string();
        let isr: Vec<String> = p.isr.iter().map(|b| b.to_string()).collect();
        let under_min = (p.isr.len() as u64) < p.min_isr;
        let rf = p.replicas.len() as u64;
        html! {
            <div class="partition" data-partition={tp.clone()} data-leader={p.leader.map(|b| b.to_string()).unwrap_or_default()}
                 data-isr={isr.join(",")} data-epoch={p.leader_epoch.to_string()}>
                <div class="phead">
                    <strong>{ &tp }</strong>
                    <span class={classes!("pill", p.leader.is_none().then_some("bad"))}>
                        { match p.leader { Some(l) => format!("leader B{l}"), None => "no leader".into() } }
                    </span>
                    <span class="pill">{ format!("epoch {}", p.leader_epoch) }</span>
                    <span class={classes!("pill", under_min.then_some("bad"))} title="in-sync replicas">{ format!("ISR [{}]", isr.join(", ")) }</span>
                    if !p.lost_offsets.is_empty() {
                        <span class="pill bad lost" title="acknowledged records no longer in the log">{ format!("{} acknowledged lost", p.lost_offsets.len()) }</span>
                    }
                    <span class="config">
                        { "min ISR " }
                        { for (1..=rf).map(|m| html! {
                            <button class={classes!("tiny", (m == p.min_isr).then_some("on"))}
                                onclick={act(format!("set {topic} min.insync.replicas={m}"))}>{ m }</button>
                        }) }
                        { " unclean " }
                        <button class={classes!("tiny", p.unclean.then_some("on"))}
                            onclick={act(format!("set {topic} unclean.leader.election.enable={}", !p.unclean))}>
                            { if p.unclean { "on" } else { "off" } }
                        </button>
                        <button class="tiny" onclick={act(format!("elect preferred {tp}"))} title="Preferred leader election">{ "elect preferred" }</button>
                        <button class="tiny" onclick={act(format!("elect unclean {tp}"))} title="Unclean election: may lose committed records">{ "elect unclean" }</button>
                    </span>
                </div>
                { for p.replicas.iter().map(|r| replica(p, r)) }
            </div>
        }
    }

    fn clients(&self, ctx: &Context<Self>, v: &ClassroomView) -> Html {
        let act = |text: String| act(ctx, text);
        html! { <>
            <h2>{ "Producers" }</h2>
            { for v.producers.iter().map(|p| html! {
                <div class="client" data-producer={p.name.clone()} data-acked={p.acknowledged.to_string()} data-sent={p.sent.to_string()}>
                    <div class="name">{ &p.name }<span class="badge">{ format!("acks={}", p.acks) }</span>
                        if p.idempotent { <span class="badge">{ "idempotent" }</span> }
                        if let Some(t) = p.transaction { <span class="badge" title="transactional.id set: its records become visible to read_committed consumers when its transaction commits">{ format!("transactional · {t}") }</span> }
                        <span class="muted">{ format!(" → {}", p.topic) }</span></div>
                    <div class="stats">
                        { format!("{} · sent {} · acked {} · failed {} · {} request(s) in flight",
                            if p.status != Status::Running { status_name(p.status) } else if p.producing { "producing" } else { "idle" },
                            p.sent, p.acknowledged, p.failed, p.in_flight) }
                    </div>
                    if let Some((t, e)) = &p.last_error { <div class="last-error">{ format!("last error at {}: {e}", seconds(*t)) }</div> }
                    { client_buttons(ctx, &p.name, p.status, if p.producing {
                        html! { <button onclick={act(format!("stop {}", p.name))}>{ "stop" }</button> }
                    } else {
                        html! { <button onclick={act(format!("start {}", p.name))}>{ "start" }</button> }
                    }) }
                </div>
            }) }
            if let Some(s) = &self.session { { self.produce_form(ctx, s) } }
            if !v.consumers.is_empty() || !v.joinable.is_empty() {
                <h2>{ "Consumers" }</h2>
                { for v.groups.iter().map(|g| html! {
                    <div class="group" data-group={g.group.clone()} data-generation={g.generation.to_string()}>
                        <div class="name">{ format!("group {}", g.group) }
                            <span class="badge">{ format!("generation {}", g.generation) }</span>
                            <span class="badge">{ if g.state == "Unknown" && g.generation == 0 { "not formed yet" } else { g.state.as_str() } }</span>
                            if let Some(p) = &g.protocol { <span class="badge">{ p }</span> }
                        </div>
                        if let Some((_, spare)) = v.joinable.iter().find(|(j, _)| *j == g.group) {
                            <div class="buttons"><button class="add-member" onclick={act(format!("start {spare}"))}
                                title={format!("Start {spare}, a new member of {}", g.group)}>{ "add a consumer" }</button></div>
                        }
                        <table>
                            <tr><th>{ "partition" }</th><th>{ "committed" }</th><th>{ "lag" }</th></tr>
                            { for g.lag.iter().map(|(tp, lag)| html! {
                                <tr><td>{ tp }</td><td>{ g.committed.get(tp).map(|c| c.to_string()).unwrap_or("-".into()) }</td><td>{ lag }</td></tr>
                            }) }
                        </table>
                    </div>
                }) }
                { for v.joinable.iter().filter(|(j, _)| !v.groups.iter().any(|g| g.group == *j)).map(|(group, spare)| html! {
                    <div class="group new" data-group-new={group.clone()}>
                        <div class="name">{ format!("group {group}") }<span class="muted">{ " (no member yet)" }</span></div>
                        <div class="buttons"><button class="add-member" onclick={act(format!("start {spare}"))}
                            title={format!("Start {spare}: it finds the group's coordinator, joins and is assigned partitions")}>{ "add a consumer" }</button></div>
                    </div>
                }) }
                { for v.consumers.iter().map(|c| html! {
                    <div class="client" data-consumer={c.name.clone()} data-processed={c.processed.to_string()}>
                        <div class="name">{ &c.name }
                            if let Some(g) = &c.group { <span class="muted">{ format!(" in {g}") }</span> }
                            if c.read_committed { <span class="badge" title="isolation.level=read_committed: reads below the last stable offset and skips aborted transactions">{ "read_committed" }</span> }
                            if let Some((out, phase)) = &c.pipeline { <span class="badge" title="consume-transform-produce: writes one record per consumed record and commits the consumed offsets in the same transaction">{ format!("exactly-once → {out} · {phase}") }</span> }
                        </div>
                        <div class="stats">{ format!("{} · processed {} · owns {}",
                            if c.status != Status::Running { status_name(c.status) } else if c.consuming { "consuming" } else { "waiting" },
                            c.processed, if c.owns.is_empty() { "nothing".to_string() } else { c.owns.join(", ") }) }</div>
                        { client_buttons(ctx, &c.name, c.status, if c.group.is_some() {
                            html! { <button onclick={act(format!("leave {}", c.name))}>{ "leave" }</button> }
                        } else {
                            Html::default()
                        }) }
                    </div>
                }) }
            }
        </> }
    }

    fn network(&self, ctx: &Context<Self>, v: &ClassroomView) -> Html {
        let act = |text: String| act(ctx, text);
        let brokers: Vec<String> = v
            .brokers
            .iter()
            .map(|b| format!("broker {}", b.id))
            .collect();
        let pairs: Vec<(String, String)> = brokers
            .iter()
            .enumerate()
            .flat_map(|(i, a)| brokers[i + 1..].iter().map(move |b| (a.clone(), b.clone())))
            .collect();
        html! { <>
            <h2>{ "Network" }</h2>
            <div class="network">
                { diagram(v) }
                <div class="inflight">
                    { for v.in_flight.iter().map(|f| html! {
                        <span class={classes!("flight", f.kind)} title="messages on the wire">
                            <b>{ f.count }</b>{ format!(" {}", f.kind) }</span>
                    }) }
                </div>
                if v.links.is_empty() { <p class="muted">{ "Every link is up." }</p> }
                <ul class="links">
                    { for v.links.iter().map(|l| html! {
                        <li class={if l.clogged { "clogged" } else { "cut" }}>
                            { format!("{} ⇹ {}: {}", l.from, l.to, if l.clogged { format!("clogged, {} held", l.held) } else { "cut".into() }) }
                        </li>
                    }) }
                </ul>
                <div class="buttons">
                    <button id="heal" onclick={act("heal".into())}>{ "heal every link" }</button>
                    { for pairs.iter().map(|(a, b)| html! {
                        <button class="tiny" onclick={act(format!("cut {a} <-> {b}"))}>
                            { format!("cut {}–{}", a.trim_start_matches("broker "), b.trim_start_matches("broker ")) }
                        </button>
                    }) }
                </div>
            </div>
        </> }
    }

    /// The lessons: the course with the learner's progress, or the lesson followed, its
    /// current step (prose, what to do, "show me", whether its check holds) and, at the end,
    /// what to remember.
    fn lessons_panel(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let course = match &self.course {
            Some(Ok(c)) => c,
            None => {
                return html! { <aside class="lessons-panel"><p class="muted">{ "Loading the lessons…" }</p></aside> };
            }
            Some(Err(e)) => {
                return html! { <aside class="lessons-panel"><p class="error">{ format!("The lessons could not be read: {e}") }</p></aside> };
            }
        };
        let Some(t) = &self.tutor else {
            return html! {
                <aside class="lessons-panel" id="lessons">
                    <div class="lhead"><h2>{ "Lessons" }</h2>
                        <button class="tiny" onclick={link.callback(|_| Msg::ToggleLessons)} title="Close">{ "×" }</button></div>
                    <p class="muted">{ "Each lesson starts a cluster and asks you to do things to it. A step is done when the cluster shows it; \"show me\" does it for you." }</p>
                    <ol class="course">
                        { for course.iter().enumerate().map(|(i, l)| {
                            let l = &l.lesson;
                            let done = self.progress.done(&l.id);
                            let all = l.steps.len();
                            html! {
                                <li data-lesson={l.id.clone()}>
                                    <button class="lesson-open" onclick={link.callback(move |_| Msg::OpenLesson(i))}>
                                        <span class="num">{ l.number }</span>
                                        <span class="ltitle">{ &l.title }</span>
                                        <span class={classes!("lprogress", (done == all).then_some("complete"))}>
                                            { if done == all { "✓".to_string() } else { format!("{done}/{all}") } }
                                        </span>
                                    </button>
                                    <div class="concepts">{ l.concepts.join(" · ") }</div>
                                </li>
                            }
                        }) }
                    </ol>
                </aside>
            };
        };
        let lesson = t.lesson(course);
        let step = &lesson.steps[t.step];
        let last = t.step + 1 == lesson.steps.len();
        let holds = self.step_status.as_ref().is_some_and(|s| s.holds);
        let done = self.progress.is_done(&lesson.id, t.step);
        let step_index = t.step;
        html! {
            <aside class="lessons-panel" id="lessons" data-lesson={lesson.id.clone()} data-step={(t.step + 1).to_string()}>
                <div class="lhead">
                    <button class="tiny" onclick={link.callback(|_| Msg::CloseLesson)} title="All lessons">{ "← lessons" }</button>
                    <button class="tiny" onclick={link.callback(|_| Msg::ToggleLessons)} title="Close the panel">{ "×" }</button>
                </div>
                <h2 class="ltitle">{ format!("Lesson {}: {}", lesson.number, lesson.title) }</h2>
                <details class="intro" open={t.step == 0}><summary>{ "About this lesson" }</summary>{ prose(&lesson.intro) }
                    <p class="concepts">{ format!("Concepts: {}", lesson.concepts.join(", ")) }</p></details>
                <ol class="stepper">
                    { for lesson.steps.iter().enumerate().map(|(i, s)| html! {
                        <li class={classes!((i == step_index).then_some("current"), self.progress.is_done(&lesson.id, i).then_some("done"))}>
                            <button onclick={link.callback(move |_| Msg::GoStep(i))} title={s.title.clone()}>{ i + 1 }</button>
                        </li>
                    }) }
                </ol>
                <section class={classes!("step", holds.then_some("holds"))} id="step" data-holds={holds.to_string()} data-done={done.to_string()}>
                    <h3>{ format!("{}. {}", t.step + 1, step.title) }</h3>
                    { prose(&step.prose) }
                    <p class="instruction"><b>{ "Do: " }</b>{ inline(&step.instruction) }</p>
                    <div class="status">
                        if holds {
                            <span class="ok">{ "✓ Done: the cluster shows it." }</span>
                        } else {
                            <span class="waiting">{ format!("Waiting for: {}", step.check.value) }</span>
                            { for self.step_status.iter().flat_map(|s| s.now.iter()).map(|n| html! { <span class="now">{ format!("now {n}") }</span> }) }
                        }
                    </div>
                    <div class="buttons">
                        if t.step > 0 { <button onclick={link.callback(move |_| Msg::GoStep(step_index - 1))}>{ "back" }</button> }
                        if !step.actions.is_empty() { <button id="show-me" onclick={link.callback(|_| Msg::ShowMe)}
                            title={step.actions.iter().map(|a| a.value.clone()).collect::<Vec<_>>().join("; ")}>{ "show me" }</button> }
                        if !last { <button id="next-step" class={classes!(holds.then_some("primary"))} onclick={link.callback(move |_| Msg::GoStep(step_index + 1))}>{ "next" }</button> }
                    </div>
                    { for step.questions.iter().map(|q| html! {
                        <details class="question"><summary>{ &q.ask }</summary>{ prose(&q.answer) }</details>
                    }) }
                </section>
                if last && done {
                    <section class="remember" id="remember">
                        <h3>{ "What to remember" }</h3>
                        <ul>{ for lesson.remember.iter().map(|r| html! { <li>{ r }</li> }) }</ul>
                    </section>
                }
                <details class="sources"><summary>{ "Sources" }</summary>
                    <ul>{ for lesson.sources.iter().map(|s| html! { <li>{ s }</li> }) }</ul></details>
            </aside>
        }
    }

    /// What the checkers found, where a learner sees it: acknowledged records lost (by
    /// partition, the first told in full; a click shows the partition) and failed checks.
    fn findings(&self, ctx: &Context<Self>, v: &ClassroomView) -> Html {
        if v.losses.is_empty() && v.findings.is_empty() {
            return Html::default();
        }
        let mut by_partition: Vec<(String, Vec<&view::Loss>)> = Vec::new();
        for l in &v.losses {
            let tp = l.topic_partition.to_string();
            match by_partition.iter_mut().find(|(p, _)| *p == tp) {
                Some((_, list)) => list.push(l),
                None => by_partition.push((tp, vec![l])),
            }
        }
        html! {
            <section class="findings" role="alert" id="findings">
                { for by_partition.into_iter().map(|(tp, list)| {
                    let first = list[0];
                    let point = tp.clone();
                    html! {
                        <div class="finding loss" data-lost={list.len().to_string()} data-partition-lost={tp.clone()}
                             onclick={ctx.link().callback(move |_| Msg::Point(point.clone()))} title="Show the partition">
                            <strong>{ format!("{} acknowledged record{} lost on {tp}", list.len(), if list.len() == 1 { "" } else { "s" }) }</strong>
                            <span>{ format!(" (seen at {}). First: {}", seconds(first.seen_ms), first.text()) }</span>
                        </div>
                    }
                }) }
                { for v.findings.iter().map(|(t, f)| html! {
                    <div class="finding failed">{ format!("{} — check failed: {f}", seconds(*t)) }</div>
                }) }
            </section>
        }
    }

    /// The form that sends one record through a console producer.
    fn produce_form(&self, ctx: &Context<Self>, s: &Session) -> Html {
        let scenario = s.scenario();
        let topics: Vec<String> = scenario
            .topics
            .iter()
            .filter(|t| {
                classroom::CONSOLE_ACKS.iter().all(|acks| {
                    let name = classroom::console_producer(scenario, &t.name, acks);
                    scenario.producers.iter().any(|p| p.name == name)
                })
            })
            .map(|t| t.name.to_string())
            .collect();
        if topics.is_empty() {
            return Html::default(); // a trace's scenario has no console producers
        }
        let onacks = ctx.link().callback(|e: Event| {
            let select: HtmlSelectElement = e.target_unchecked_into();
            Msg::ProduceAcks(select.value())
        });
        let onkey = ctx
            .link()
            .batch_callback(|e: KeyboardEvent| (e.key() == "Enter").then_some(Msg::Produce));
        html! {
            <div class="client produce" id="produce">
                <div class="name">{ "Produce a record" }<span class="muted">{ " as kafka-console-producer does" }</span></div>
                <div class="form">
                    if topics.len() > 1 {
                        <select id="produce-topic" title="topic">
                            { for topics.iter().map(|t| html! { <option value={t.clone()}>{ t }</option> }) }
                        </select>
                    }
                    <input id="produce-key" type="text" placeholder="key" title="The key: records with one key go to one partition" onkeydown={onkey.clone()} />
                    <input id="produce-value" type="text" placeholder="value" title="Text for the value (one word)" onkeydown={onkey} />
                    <select id="produce-acks" title="acks" onchange={onacks}>
                        { for classroom::CONSOLE_ACKS.iter().map(|a| html! {
                            <option value={*a} selected={*a == self.produce_acks}>{ format!("acks={a}") }</option>
                        }) }
                    </select>
                    <button id="produce-send" onclick={ctx.link().callback(|_| Msg::Produce)}>{ "send" }</button>
                </div>
            </div>
        }
    }

    fn timeline(&self, s: &Session) -> Html {
        let lines = view::timeline(s, &self.tally, 14);
        html! {
            <section class="timeline">
                <h2>{ "Timeline" }</h2>
                <ol>
                    { for lines.iter().rev().map(|l| html! {
                        <li class={view::kind_class(l.kind)}><time>{ seconds(l.time_ms) }</time>{ &l.text }</li>
                    }) }
                </ol>
            </section>
        }
    }
}

/// Scrolls to the card of partition `tp` and flashes it.
fn point_at(tp: &str) {
    let Some(document) = window().document() else {
        return;
    };
    let Ok(Some(card)) = document.query_selector(&format!("[data-partition=\"{tp}\"]")) else {
        return;
    };
    card.scroll_into_view();
    let classes = card.class_list();
    let _ = classes.remove_1("flash");
    // Reading the layout restarts the animation when the class comes back.
    let _ = card.get_bounding_client_rect();
    let _ = classes.add_1("flash");
}

/// The cluster as a picture of its network: the controller, the brokers and the clients that
/// run or ran, cut links dashed red, clogged links orange, and each message on the wire as a
/// dot on its way (slow the speed down to watch produce, fetch and heartbeat traffic).
fn diagram(v: &ClassroomView) -> Html {
    // Positions are in tenths of a unit of the 430 by 204 picture, in whole numbers: the page
    // formats no floats (see `charts`).
    const W: i32 = 4300;
    let row = |names: Vec<(String, String, &'static str)>, y: i32| {
        let n = names.len().max(1) as i32;
        names
            .into_iter()
            .enumerate()
            .map(move |(i, (name, label, class))| {
                (name, label, class, W * (2 * i as i32 + 1) / (2 * n), y)
            })
            .collect::<Vec<_>>()
    };
    let status_class = |s: Status| match s {
        Status::Running => "up",
        Status::Paused => "paused",
        Status::Crashed => "down",
        Status::NotStarted => "idle",
    };
    let mut nodes = row(
        vec![(
            "controller".into(),
            "ctl".into(),
            status_class(v.controller),
        )],
        220,
    );
    nodes.extend(row(
        v.brokers
            .iter()
            .map(|b| {
                (
                    format!("broker {}", b.id),
                    format!("B{}", b.id),
                    status_class(b.status),
                )
            })
            .collect(),
        950,
    ));
    nodes.extend(row(
        v.producers
            .iter()
            .map(|p| (p.name.clone(), p.name.clone(), status_class(p.status)))
            .chain(
                v.consumers
                    .iter()
                    .map(|c| (c.name.clone(), c.name.clone(), status_class(c.status))),
            )
            .collect(),
        1700,
    ));
    let at = |name: &str| nodes.iter().find(|n| n.0 == name).map(|n| (n.3, n.4));
    let links = v.links.iter().filter_map(|l| {
        let ((x1, y1), (x2, y2)) = (at(&l.from)?, at(&l.to)?);
        let class = if l.clogged { "clogged" } else { "cut" };
        Some(html! { <line class={classes!("link", class)} x1={tenths(x1)} y1={tenths(y1)} x2={tenths(x2)} y2={tenths(y2)} /> })
    });
    let dots = v.wire.iter().filter_map(|m| {
        let ((x1, y1), (x2, y2)) = (at(&m.from)?, at(&m.to)?);
        let p = i32::from(m.progress);
        let (x, y) = (x1 + (x2 - x1) * p / 100, y1 + (y2 - y1) * p / 100);
        Some(
            html! { <circle class={classes!("msg", m.kind)} cx={tenths(x)} cy={tenths(y)} r="3.5">
            <title>{ format!("{} → {}: {}", m.from, m.to, m.kind) }</title></circle> },
        )
    });
    html! {
        <svg class="diagram" viewBox="0 0 430 204" role="img" aria-label="the network and the messages on it">
            { for links }
            { for dots }
            // A name that does not fit in its circle (`console-all`, `pipeline-1`) goes under it.
            { for nodes.iter().map(|(name, label, class, x, y)| html! {
                <g class={classes!("node", *class)} data-node={name.clone()}>
                    <title>{ name }</title>
                    <circle cx={tenths(*x)} cy={tenths(*y)} r="15" />
                    if label.chars().count() <= 4 {
                        <text x={tenths(*x)} y={tenths(y + 40)} text-anchor="middle">{ label }</text>
                    } else {
                        <text class="under" x={tenths(*x)} y={tenths(y + 270)} text-anchor="middle">{ label }</text>
                    }
                </g>
            }) }
        </svg>
    }
}

/// A coordinate of the network diagram, given in tenths, as SVG writes it.
fn tenths(v: i32) -> String {
    let sign = if v < 0 { "-" } else { "" };
    format!("{sign}{}.{}", v.unsigned_abs() / 10, v.unsigned_abs() % 10)
}

/// Loads the lessons in the background, then sends `then` (see [`Msg::LessonsLoaded`]).
fn load_lessons(ctx: &Context<App>, then: Msg) {
    ctx.link().send_future(async move {
        crate::builtin::load_lessons().await;
        Msg::LessonsLoaded(Box::new(then))
    });
}

/// A callback that takes `text`, an action in the scenario's action language.
fn act(ctx: &Context<App>, text: String) -> Callback<MouseEvent> {
    ctx.link().callback(move |_| Msg::Act(text.clone()))
}

/// A client's buttons: `running` (what a running client can do) and kill while it runs, start
/// before it started, restart after it was killed.
fn client_buttons(ctx: &Context<App>, name: &str, status: Status, running: Html) -> Html {
    let act = |verb: &str| act(ctx, format!("{verb} {name}"));
    html! {
        <div class="buttons">
            { match status {
                Status::Running => html! { <>
                    { running }
                    <button onclick={act("crash")}>{ "kill" }</button>
                </> },
                Status::NotStarted => html! { <button onclick={act("start")}>{ "start" }</button> },
                _ => html! { <button onclick={act("restart")}>{ "restart" }</button> },
            } }
        </div>
    }
}

fn replica(p: &PartitionView, r: &ReplicaView) -> Html {
    let role = if r.leader {
        "leader"
    } else if !r.online {
        "offline"
    } else if r.in_isr {
        "follower"
    } else {
        "out of ISR"
    };
    let cells = (p.strip_start..p.strip_start + view::STRIP).map(|o| {
        let lost = p.lost_offsets.contains(&o);
        match r.cells.iter().find(|c| c.offset == o) {
            Some(c) => {
                let style = match &c.key {
                    Some(k) => format!("background: hsl({} 65% 62%)", view::key_hue(k)),
                    None => "background: #94a3b8".into(),
                };
                let class = classes!(
                    "cell",
                    (o >= r.high_watermark).then_some("uncommitted"),
                    lost.then_some("lost"),
                    c.aborted.then_some("aborted")
                );
                let title = format!(
                    "offset {o} · {} · value {} · epoch {}{}{}",
                    c.key
                        .as_ref()
                        .map_or("no key".into(), |k| format!("key {k}")),
                    c.value,
                    c.epoch,
                    if lost {
                        " · an acknowledged record that was here is lost"
                    } else {
                        ""
                    },
                    if c.aborted {
                        " · its transaction aborted: read_committed consumers skip it"
                    } else {
                        ""
                    }
                );
                html! { <span {class} {style} {title}></span> }
            }
            None if o < r.log_start_offset => html! { <span class="cell deleted"></span> },
            // A transaction marker: it takes an offset, and no consumer is ever given it.
            None if let Some(&(_, commit)) = r.markers.iter().find(|(m, _)| *m == o) => {
                let (word, class) = if commit { ("COMMIT", "commit") } else { ("ABORT", "abort") };
                let title = format!("offset {o} · {word} marker: ends a transaction here; consumers skip it");
                html! { <span class={classes!("cell", "marker", class)} {title}>{ &word[..1] }</span> }
            }
            // An offset the log cleaner emptied: offsets are never renumbered, so the slot stays.
            None if o < r.log_end_offset => html! {
                <span class="cell cleaned" title={format!("offset {o} · removed by the log cleaner: a later record has its key")}></span>
            },
            None => html! { <span class="cell empty"></span> },
        }
    });
    html! {
        <div class={classes!("replica", role.replace(' ', "-"))} data-replica={r.broker.to_string()} data-role={role}>
            <span class="rname">{ format!("B{}", r.broker) }<small>{ role }</small></span>
            <span class="strip">{ for cells }</span>
            <span class="marks">{ format!("HW {} · LEO {}", r.high_watermark, r.log_end_offset) }{
                // A compacted log holds fewer records than offsets: say how many are left.
                r.records.map(|n| format!(" · {n} records")).unwrap_or_default()
            }</span>
        </div>
    }
}

/// Lesson text on one line: `code` in backticks.
fn inline(text: &str) -> Html {
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let parts: Vec<Html> = words
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                html! { <code>{ part.to_string() }</code> }
            } else {
                html! { { part.to_string() } }
            }
        })
        .collect();
    html! { <>{ for parts }</> }
}

/// Lesson text: paragraphs split at blank lines, `code` in backticks.
fn prose(text: &str) -> Html {
    html! { <>{ for text.split("\n\n").filter(|p| !p.trim().is_empty()).map(|p| html! { <p>{ inline(p) }</p> }) }</> }
}
