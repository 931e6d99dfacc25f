//! Bad input gets a clear error naming file, line and field, and never a panic.

use gregor_sim::scenario::Scenario;

const BASE: &str = "name = \"t\"\n[cluster]\nbrokers = 3\n[[topic]]\nname = \"orders\"\npartitions = 3\nreplication_factor = 3\n";

fn error(text: &str) -> String {
    match Scenario::parse("bad.toml", text) {
        Ok(_) => panic!("accepted a bad scenario:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn malformed_toml_names_the_line() {
    let e = error("name = \"t\"\n[cluster]\nbrokers = = 3\n");
    assert!(e.starts_with("bad.toml:3:"), "{e}");
}

#[test]
fn an_unknown_broker_id_is_refused_with_its_line_and_field() {
    let e = error(&format!(
        "{BASE}[[at]]\ntime = \"5s\"\ncrash = \"broker 9\"\n"
    ));
    assert!(e.starts_with("bad.toml:10:"), "{e}");
    assert!(e.contains("at[0].crash"), "{e}");
    assert!(e.contains("broker 9 does not exist"), "{e}");
    let e = error(&format!(
        "{BASE}[[expect_at]]\ntime = \"5s\"\npartition = \"orders/0\"\nleader = 4\n"
    ));
    assert!(e.contains("expect_at[0].leader"), "{e}");
}

/// Topic names follow Kafka's rule (`Topic.validate`): ASCII letters, digits, `.`, `_`, `-`.
#[test]
fn a_topic_name_kafka_would_refuse_is_refused() {
    for (name, why) in [
        ("Bestellungen-Ä", "'Ä' is not a letter, digit"),
        ("orders/1", "'/' is not a letter, digit"),
        ("..", "not a valid topic name"),
        ("", "not empty"),
    ] {
        let e = error(&format!(
            "name = \"t\"\n[cluster]\nbrokers = 3\n[[topic]]\nname = \"{name}\"\npartitions = 1\nreplication_factor = 1\n"
        ));
        assert!(
            e.contains("bad.toml:5:") && e.contains("topic[0].name") && e.contains(why),
            "{name}: {e}"
        );
    }
}

#[test]
fn negative_and_zero_counts_are_refused() {
    let e = error(
        "name = \"t\"\n[cluster]\nbrokers = 3\n[[topic]]\nname = \"orders\"\npartitions = -1\nreplication_factor = 3\n",
    );
    assert!(
        e.contains("bad.toml:6:") && e.contains("topic[0].partitions"),
        "{e}"
    );
    let e = error("name = \"t\"\n[cluster]\nbrokers = 0\n");
    assert!(e.contains("cluster.brokers"), "{e}");
    let e = error(
        "name = \"t\"\n[cluster]\nbrokers = 3\n[[topic]]\nname = \"orders\"\npartitions = 3\nreplication_factor = 4\n",
    );
    assert!(e.contains("replication_factor"), "{e}");
}

#[test]
fn wrong_types_unknown_keys_and_bad_configs_are_refused() {
    let e = error(&format!(
        "{BASE}[[producer]]\nid = \"p1\"\ntopic = \"orders\"\nrate_per_sec = \"fast\"\ncount = 10\n"
    ));
    assert!(e.contains("bad.toml:11:"), "{e}");
    let e = error(&format!(
        "{BASE}[[producer]]\nid = \"p1\"\ntopic = \"nope\"\nrate_per_sec = 5\ncount = 10\n"
    ));
    assert!(
        e.contains("producer[0].topic") && e.contains("no topic named `nope`"),
        "{e}"
    );
    let e =
        error("name = \"t\"\n[cluster]\nbrokers = 3\nconfig = { \"min.insync.replica\" = 2 }\n");
    assert!(
        e.contains("cluster.config.min.insync.replica") && e.contains("unknown config"),
        "{e}"
    );
    let e = error(&format!("{BASE}colour = \"blue\"\n"));
    assert!(e.contains("unknown field `colour`"), "{e}");
    let e = error(&format!("{BASE}[[at]]\ntime = \"soon\"\nheal = true\n"));
    assert!(e.contains("at[0].time"), "{e}");
}

#[test]
fn garbage_never_panics() {
    for text in [
        "",
        "\u{0}",
        "[[[",
        "name = 5",
        "[cluster]\nbrokers = 99999999999999999999",
        &"x".repeat(10_000),
    ] {
        assert!(Scenario::parse("junk.toml", text).is_err());
    }
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    let e = Scenario::from_file(std::path::Path::new("/nonexistent/x.toml")).unwrap_err();
    assert!(e.to_string().contains("cannot read the file"), "{e}");
}

#[test]
fn group_actions_and_expectations_name_what_is_wrong() {
    let consumers = format!(
        "{BASE}[[consumer]]\nid = \"c1\"\ntopic = \"orders\"\ngroup = \"g\"\n[[consumer]]\nid = \"solo\"\ntopic = \"orders\"\n"
    );
    let e = error(&format!(
        "{consumers}[[at]]\ntime = \"5s\"\nleave = \"solo\"\n"
    ));
    assert!(
        e.contains("at[0].leave") && e.contains("not a consumer in a group"),
        "{e}"
    );
    let e = error(&format!(
        "{consumers}[[at]]\ntime = \"5s\"\ncrash = \"coordinator of nobody\"\n"
    ));
    assert!(
        e.contains("at[0].crash") && e.contains("no consumer is in a group called `nobody`"),
        "{e}"
    );
    let e = error(&format!(
        "{consumers}[[at]]\ntime = \"5s\"\ncrash = \"c9\"\n"
    ));
    assert!(
        e.contains("names no node") && e.contains("a client's name"),
        "{e}"
    );
    let e = error(&format!(
        "{consumers}[[expect_at]]\ntime = \"5s\"\ngroup = \"g\"\ngroup_state = \"Happy\"\n"
    ));
    assert!(
        e.contains("expect_at[0].group_state") && e.contains("not a group state"),
        "{e}"
    );
    let e = error(&format!(
        "{consumers}[[expect_at]]\ntime = \"5s\"\ngeneration = 1\n"
    ));
    assert!(
        e.contains("expect_at[0].generation") && e.contains("needs `group"),
        "{e}"
    );
    let e = error(&format!(
        "{consumers}[[expect_at]]\ntime = \"5s\"\ngroup = \"g\"\nassignment = {{ solo = [\"orders/0\"] }}\n"
    ));
    assert!(e.contains("`solo` is not a consumer of group `g`"), "{e}");
    let e = error(&format!(
        "{consumers}[[expect_at]]\ntime = \"5s\"\ngroup = \"g\"\nassignment = {{ c1 = [\"orders/7\"] }}\n"
    ));
    assert!(e.contains("orders has 3 partitions"), "{e}");
    let e = error(&format!(
        "{consumers}[expect]\ndelivery = \"exactly-twice\"\n"
    ));
    assert!(
        e.contains("expect.delivery") && e.contains("at-least-once or at-most-once"),
        "{e}"
    );
    let e = error(&format!("{BASE}[expect]\nunseen = 0\n"));
    assert!(
        e.contains("expect.unseen") && e.contains("no consumer has a `group`"),
        "{e}"
    );
}
