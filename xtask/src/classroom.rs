//! Building and serving the classroom: `cargo xtask bundle` writes the static bundle into
//! `web/dist/` (index.html, the JavaScript glue, the wasm, and the compressed lessons the page
//! fetches when they are wanted), and `cargo xtask classroom` builds it and serves it on 127.0.0.1.
//!
//! Everything comes from the package registries or the system: the wasm target through rustup,
//! the wasm-bindgen command-line tool through `cargo install` at the exact version in
//! `Cargo.lock`, `wasm-opt` only if one is installed and works (otherwise the bundle stays
//! unoptimised, with a note). Nothing is downloaded from elsewhere.

use crate::{output, step, step_named};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// Where the bundle goes.
pub const DIST: &str = "web/dist";
/// The wasm the build produces.
const WASM: &str = "target/wasm32-unknown-unknown/wasm/gregor-classroom.wasm";
/// The compressed lessons beside the page, under the name the page fetches
/// (`web::builtin::LESSONS_FILE`).
const LESSONS: &str = "lessons.zlib";

/// The wasm-bindgen version `Cargo.lock` pins: the CLI must match it exactly.
fn pinned_wasm_bindgen() -> Option<String> {
    let lock = std::fs::read_to_string("Cargo.lock").ok()?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            let version = lines.next()?.trim().strip_prefix("version = \"")?;
            return Some(version.trim_end_matches('"').to_string());
        }
    }
    None
}

/// The wasm-bindgen CLI at the pinned version, installed with cargo when missing.
pub(crate) fn wasm_bindgen(cargo: &str) -> Option<String> {
    let Some(version) = pinned_wasm_bindgen() else {
        eprintln!("Cargo.lock names no wasm-bindgen version");
        return None;
    };
    let installed = output("wasm-bindgen", &["--version"]).unwrap_or_default();
    if installed.split_whitespace().nth(1) == Some(version.as_str()) {
        return Some("wasm-bindgen".into());
    }
    let exact = format!("={version}");
    // `--locked` fails here (a locked dependency of the CLI is missing from the registry).
    if !step(
        &format!("install the wasm-bindgen CLI {version} (a few minutes, once)"),
        cargo,
        &["install", "wasm-bindgen-cli", "--version", &exact],
        &[],
    ) {
        return None;
    }
    Some("wasm-bindgen".into())
}

/// Where the browser test's npm packages live (playwright-core, and binaryen for wasm-opt).
const E2E: &str = "web/e2e";

/// Installs the browser test's npm packages from the lock file when they are missing; returns
/// whether they are there. npm installs from the registry only: playwright-core drives the
/// system's Chromium and downloads no browser.
fn npm_packages() -> bool {
    if Path::new(E2E).join("node_modules/playwright-core").is_dir() {
        return true;
    }
    if output("npm", &["--version"]).is_none() {
        println!("note: npm not found: no wasm-opt from npm, and no browser test");
        return false;
    }
    step(
        "install the browser test's npm packages",
        "npm",
        &["ci", "--prefix", E2E, "--no-audit", "--no-fund"],
        &[],
    )
}

/// The classroom's wasm budget before compression (issue 7): 1 MB, counted as 1 MiB as every
/// measurement of it has been.
const WASM_BUDGET: u64 = 1024 * 1024;

/// The classroom's wasm budget gzipped (issue 7): 350 KB, counted in KiB.
const GZIP_BUDGET: u64 = 350 * 1024;

/// About how many bytes `bytes` take gzipped: a deflate stream at the strongest level and
/// gzip's 18 bytes of header and trailer. miniz's stream is a little longer than `gzip -9`'s
/// (391,324 against 389,934 bytes on the bundle), so the figure errs on the safe side.
fn gzipped_size(bytes: &[u8]) -> u64 {
    miniz_oxide::deflate::compress_to_vec(bytes, 9).len() as u64 + 18
}

/// Builds the bundle into `web/dist/`; returns whether it worked.
pub fn bundle(cargo: &str) -> bool {
    build_bundle(cargo).is_some()
}

/// Builds the bundle into `web/dist/`: the wasm's size, raw and gzipped, and whether wasm-opt
/// optimised it, or `None` if the build failed.
fn build_bundle(cargo: &str) -> Option<(u64, u64, bool)> {
    if !crate::ensure_toolchain() {
        return None;
    }
    // For wasm-opt; the bundle is fine without it.
    let _ = npm_packages();
    let bindgen = wasm_bindgen(cargo)?;
    let out_dir = build_wasm(cargo)?;
    let _ = std::fs::remove_dir_all(DIST);
    if std::fs::create_dir_all(DIST).is_err() {
        eprintln!("cannot create {DIST}");
        return None;
    }
    // The function names stay in for wasm-opt, which orders the functions by name and then
    // strips the names; without a working wasm-opt the bundle is bound again without them.
    let bind = |names: bool| {
        let mut args = vec![
            "--target",
            "web",
            "--no-typescript",
            "--out-dir",
            DIST,
            WASM,
        ];
        if !names {
            args.push("--remove-name-section");
        }
        step("bind the wasm to JavaScript", &bindgen, &args, &[])
    };
    if !bind(true) {
        return None;
    }
    if std::fs::copy("web/static/index.html", Path::new(DIST).join("index.html")).is_err() {
        eprintln!("cannot copy web/static/index.html into {DIST}");
        return None;
    }
    // The lessons, which the page fetches when they are wanted (see `web::builtin`).
    let lessons = out_dir.join(LESSONS);
    if let Err(e) = std::fs::copy(&lessons, Path::new(DIST).join(LESSONS)) {
        eprintln!("cannot copy {} into {DIST}: {e}", lessons.display());
        return None;
    }
    let optimised = optimise(&Path::new(DIST).join("gregor-classroom_bg.wasm"));
    if !optimised && !bind(false) {
        return None;
    }
    let wasm = Path::new(DIST).join("gregor-classroom_bg.wasm");
    let bytes = match std::fs::read(&wasm) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot read {}: {e}", wasm.display());
            return None;
        }
    };
    let size = bytes.len() as u64;
    let gzipped = gzipped_size(&bytes);
    println!(
        "classroom bundle in {DIST}/: index.html, gregor-classroom.js, gregor-classroom_bg.wasm ({size} bytes, {gzipped} gzipped; budgets {WASM_BUDGET} and {GZIP_BUDGET}), {LESSONS} (the lessons, fetched when wanted: {} bytes compressed)",
        std::fs::metadata(&lessons).map_or(0, |m| m.len())
    );
    Some((size, gzipped, optimised))
}

/// Builds the classroom for wasm32; returns the directory where its build script wrote the
/// compressed lessons, which cargo names in its build messages.
fn build_wasm(cargo: &str) -> Option<PathBuf> {
    let args = [
        "build",
        "-p",
        "gregor-web",
        "--bin",
        "gregor-classroom",
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        "wasm",
        "--message-format=json-render-diagnostics",
    ];
    let mut out_dir = None;
    let built = step_named(
        &format!("build the classroom for wasm32: {cargo} {}", args.join(" ")),
        || {
            let mut command = Command::new(cargo);
            command.args(args);
            if let Some(flags) = wasm_rustflags() {
                command.env("CARGO_ENCODED_RUSTFLAGS", flags);
            }
            // Diagnostics go to stderr as usual; stdout has one JSON message per line.
            let output = match command.stderr(std::process::Stdio::inherit()).output() {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("cannot run {cargo}: {e}");
                    return false;
                }
            };
            out_dir = String::from_utf8_lossy(&output.stdout)
                .lines()
                .find_map(web_out_dir);
            if !output.status.success() {
                eprintln!("{cargo} exited with {}", output.status);
            }
            output.status.success()
        },
    );
    if !built {
        return None;
    }
    if out_dir.is_none() {
        eprintln!("cargo named no build-script output directory for gregor-web");
    }
    out_dir
}

/// The output directory in a cargo message that says gregor-web's build script ran (cargo says
/// so also when the script's output was fresh). The package is told by the directory cargo
/// gives its build script (`build/gregor-web-<hash>/out`), which every cargo names the same
/// way, unlike the package id.
fn web_out_dir(message: &str) -> Option<PathBuf> {
    if !message.contains(r#""reason":"build-script-executed""#) {
        return None;
    }
    let start = message.find(r#""out_dir":""#)? + r#""out_dir":""#.len();
    // A JSON string: it ends at the first quote that no backslash escapes.
    let mut path = String::new();
    let mut chars = message[start..].chars();
    loop {
        match chars.next()? {
            '"' => break,
            '\\' => match chars.next()? {
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    path.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                'b' => path.push('\u{8}'),
                'f' => path.push('\u{c}'),
                'n' => path.push('\n'),
                'r' => path.push('\r'),
                't' => path.push('\t'),
                other => path.push(other),
            },
            c => path.push(c),
        }
    }
    let out_dir = PathBuf::from(path);
    let package = out_dir.parent()?.file_name()?.to_str()?;
    package
        .strip_prefix("gregor-web-")
        .is_some_and(|hash| !hash.contains('-'))
        .then_some(out_dir)
}

/// The Rust flags for the wasm build: the caller's own (`CARGO_ENCODED_RUSTFLAGS` or
/// `RUSTFLAGS`, which setting the former would otherwise drop), then flags that write the source
/// paths in the bundle's panic locations relative to the crate registry and the standard
/// library's sources instead of absolute. The bundle then has the same bytes on every machine,
/// whatever its home directory, and 3.5 KB fewer of them. The flags are separated by 0x1f, as
/// `CARGO_ENCODED_RUSTFLAGS` wants, so that a path with a space stays one flag. `None` when there
/// is no flag at all. (Rust flags in a Cargo configuration file still give way to these, as to
/// `RUSTFLAGS`; the project has none.)
fn wasm_rustflags() -> Option<String> {
    let mut flags: Vec<String> = match std::env::var("CARGO_ENCODED_RUSTFLAGS") {
        Ok(encoded) if !encoded.is_empty() => encoded.split('\u{1f}').map(String::from).collect(),
        _ => std::env::var("RUSTFLAGS")
            .map(|f| f.split_whitespace().map(String::from).collect())
            .unwrap_or_default(),
    };
    // The standard library's generic code, compiled into the bundle, names its sources under
    // the toolchain's sysroot; the toolchain is the one cargo runs (`RUSTC`), else `rustc`.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Some(sysroot) = output(&rustc, &["--print", "sysroot"]) {
        let library = Path::new(sysroot.trim()).join("lib/rustlib/src/rust/library");
        flags.push(format!("--remap-path-prefix={}=library", library.display()));
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    // Each registry has its own directory of crate sources (`index.crates.io-<hash>`).
    if let Some(Ok(registries)) = cargo_home.map(|h| std::fs::read_dir(h.join("registry/src"))) {
        for registry in registries.flatten() {
            let from = registry.path();
            flags.push(format!("--remap-path-prefix={}=crates", from.display()));
        }
    }
    (!flags.is_empty()).then(|| flags.join("\u{1f}"))
}

/// Runs `wasm-opt -Oz` if one is installed and understands the module; otherwise says so.
/// Returns whether it optimised the module.
fn optimise(wasm: &Path) -> bool {
    // The npm package binaryen, installed beside playwright-core for the browser test, has a
    // wasm-opt new enough for what Rust emits (Debian 12's is too old).
    let candidates = ["web/e2e/node_modules/.bin/wasm-opt", "wasm-opt"];
    let Some(tool) = candidates
        .iter()
        .find(|c| output(c, &["--version"]).is_some())
    else {
        println!("note: no wasm-opt found (binaryen); the bundle is not optimised further");
        return false;
    };
    let optimised = wasm.with_extension("opt.wasm");
    // `--low-memory-unused` lets wasm-opt fold constant offsets into loads and stores, which
    // holds because rustc links the stack first: the data starts at 1 MiB, and the lowest
    // kilobyte is the far end of a 1 MiB stack. With `--converge` it takes 8 KB off the bundle.
    //
    // Ordering the functions by name puts a generic's copies and a module's functions side by
    // side, where gzip finds their likenesses: 4.5 KB less gzipped, the same raw size. Then
    // `--strip-debug` drops the names, which only the ordering needed; the producers and
    // target-features sections only describe the build to tools.
    let ok = Command::new(tool)
        .args([
            "-Oz",
            "--converge",
            "--low-memory-unused",
            "--reorder-functions-by-name",
            "--strip-debug",
            "--strip-producers",
            "--strip-target-features",
            "--enable-bulk-memory",
            "--enable-nontrapping-float-to-int",
        ])
        .args(["--enable-sign-ext", "--enable-mutable-globals", "-o"])
        .arg(&optimised)
        .arg(wasm)
        .status()
        .is_ok_and(|s| s.success());
    if ok && std::fs::rename(&optimised, wasm).is_ok() {
        println!("optimised the wasm with {tool}");
        true
    } else {
        let _ = std::fs::remove_file(&optimised);
        println!(
            "note: {tool} could not optimise this module (too old?); the bundle is not optimised further"
        );
        false
    }
}

/// `cargo xtask classroom [--port N]`: builds the bundle and serves it until stopped.
pub fn classroom(cargo: &str, args: &[String]) -> ExitCode {
    let port = match args.iter().position(|a| a == "--port") {
        Some(i) => match args.get(i + 1).and_then(|p| p.parse::<u16>().ok()) {
            Some(p) => p,
            None => {
                eprintln!("--port needs a port number");
                return ExitCode::from(2);
            }
        },
        None => 8080,
    };
    if !bundle(cargo) {
        return ExitCode::FAILURE;
    }
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e} (choose another with --port N)");
            return ExitCode::FAILURE;
        }
    };
    println!("\nThe classroom is at http://127.0.0.1:{port}/ (Ctrl-C stops it)");
    serve(listener, PathBuf::from(DIST));
    ExitCode::SUCCESS
}

/// Serves the files of `root` over HTTP/1.0, one request per connection, forever.
pub fn serve(listener: TcpListener, root: PathBuf) {
    for stream in listener.incoming().flatten() {
        let root = root.clone();
        std::thread::spawn(move || answer(stream, &root));
    }
}

fn answer(mut stream: TcpStream, root: &Path) {
    let mut line = String::new();
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // Drain the headers; nothing in them matters for static files.
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
        header.clear();
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let name = if path == "/" {
        "index.html"
    } else {
        path.trim_start_matches('/')
    };
    let file = root.join(name);
    let (status, body, kind) = if name.contains("..") || !file.is_file() {
        ("404 Not Found", b"not found".to_vec(), "text/plain")
    } else {
        let kind = match file.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript",
            Some("wasm") => "application/wasm",
            Some("json" | "jsonl") => "application/json",
            _ => "application/octet-stream",
        };
        match std::fs::read(&file) {
            Ok(body) => ("200 OK", body, kind),
            Err(_) => ("404 Not Found", b"not found".to_vec(), "text/plain"),
        }
    };
    let head = format!(
        "HTTP/1.0 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

/// Chromium from the system, installed with apt when missing and possible.
fn chromium() -> Option<String> {
    for c in ["chromium", "chromium-browser"] {
        if output(c, &["--version"]).is_some() {
            return Some(c.into());
        }
    }
    if output("apt-get", &["--version"]).is_none() {
        eprintln!("Chromium is missing: install Debian's `chromium` (apt-get install chromium)");
        return None;
    }
    let _ = step(
        "update the package lists",
        "apt-get",
        &["update", "-qq"],
        &[],
    );
    let installed = step(
        "install Chromium and a font",
        "apt-get",
        &[
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "chromium",
            "fonts-dejavu-core",
        ],
        &[("DEBIAN_FRONTEND", "noninteractive")],
    );
    installed.then(|| "chromium".to_string())
}

/// The full path of the Chromium command, for playwright-core's `executablePath`.
fn chromium_path(command: &str) -> String {
    output("which", &[command])
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| format!("/usr/bin/{command}"))
}

/// The page's DOM after the classroom opened `link` and settled, from headless Chromium.
fn dump_dom(chromium: &str, url: &str) -> Option<String> {
    let profile = std::env::temp_dir().join(format!("gregor-chromium-{}", std::process::id()));
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", url])
        .output()
        .ok()?;
    let _ = std::fs::remove_dir_all(profile);
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Builds the bundle, serves it, and opens links in headless Chromium: each must show what
/// the model does (a crashed leader replaced, a shrunk ISR) or say what is wrong with the link.
/// Then the end-to-end test (`web/e2e/classroom.mjs`) uses the page as a learner does.
pub fn browser_check(cargo: &str) -> bool {
    let Some((size, gzipped, optimised)) = build_bundle(cargo) else {
        return false;
    };
    // The budgets hold for the optimised bundle, which the test command always builds (it
    // installs binaryen); without wasm-opt they are only reported.
    for (what, bytes, budget) in [("", size, WASM_BUDGET), (" gzipped", gzipped, GZIP_BUDGET)] {
        if bytes > budget {
            let over = format!("the wasm is {bytes} bytes{what}, over its budget of {budget}");
            if optimised {
                eprintln!("{over}");
                return false;
            }
            println!("note: {over} (not optimised: no working wasm-opt)");
        }
    }
    let Some(chromium) = chromium() else {
        return false;
    };
    let Ok(listener) = TcpListener::bind(("127.0.0.1", 0)) else {
        eprintln!("cannot listen on 127.0.0.1");
        return false;
    };
    let Ok(address) = listener.local_addr() else {
        return false;
    };
    std::thread::spawn(move || serve(listener, PathBuf::from(DIST)));
    let cases: &[(&str, &[&str])] = &[
        (
            "#scenario=leader-failover&seed=1&t=4000",
            &[
                r#"data-partition="orders/0" data-leader="1" data-isr="1,2,3""#,
                r#"data-broker="1" data-status="running""#,
            ],
        ),
        (
            // The leader of orders/0 crashes at 5 s; the controller fences it 9 s later and
            // elects broker 2 from the ISR.
            "#scenario=leader-failover&seed=1&t=16000",
            &[
                r#"data-partition="orders/0" data-leader="2" data-isr="2,3""#,
                r#"data-broker="1" data-status="crashed""#,
                "broker 1 crashed",
            ],
        ),
        (
            // A learner's action in the link: broker 2 crashes at 2 s.
            "#scenario=min-isr&seed=1&actions=0.2000.crash%20broker%202&t=14000",
            &[
                r#"data-broker="2" data-status="crashed""#,
                "broker 2 crashed",
            ],
        ),
        ("#seed=many", &["link field `seed`"]),
        // A link that names a lesson loads the lessons first; one that names none says so
        // and shows the run.
        (
            "#lesson=why-a-log",
            &["Why a log", r#"data-broker="1" data-status="running""#],
        ),
        (
            "#lesson=nope",
            &[
                "No lesson is called `nope`.",
                r#"data-broker="1" data-status="running""#,
            ],
        ),
    ];
    let mut ok = true;
    let out = Path::new("target/e2e");
    let trace = out.join("leader-failover.trace.jsonl");
    let _ = std::fs::create_dir_all(out);
    let trace_arg = trace.to_string_lossy();
    let written = step(
        "a trace for the browser test to open",
        cargo,
        &[
            "run",
            "--release",
            "-q",
            "--bin",
            "gregor",
            "--",
            "run",
            "scenarios/leader-failover.toml",
            "--seed",
            "1",
            "--trace",
            &trace_arg,
        ],
        &[],
    );
    if !written || !npm_packages() {
        return false;
    }
    let base = format!("http://{address}");
    let e2e = step(
        "the classroom end to end (playwright-core)",
        "node",
        &[
            "web/e2e/classroom.mjs",
            &base,
            &trace_arg,
            &out.to_string_lossy(),
        ],
        &[("CHROMIUM", &chromium_path(&chromium))],
    );
    ok &= e2e;
    for (link, wanted) in cases {
        let url = format!("http://{address}/{link}");
        println!("==> browser: {url}");
        let Some(dom) = dump_dom(&chromium, &url) else {
            eprintln!("cannot run {chromium}");
            return false;
        };
        for w in *wanted {
            if !dom.contains(w) {
                eprintln!("the page at {link} does not show {w}");
                ok = false;
            }
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The build script's output directory is read from cargo's message for gregor-web only,
    /// with the JSON string's escapes undone.
    #[test]
    fn the_build_scripts_directory_comes_from_cargos_message() {
        let web = r#"{"reason":"build-script-executed","package_id":"path+file:///w/web#gregor-web@0.1.0","linked_libs":[],"linked_paths":[],"cfgs":[],"env":[["GREGOR_BUILTIN_FNV","0123"]],"out_dir":"/w/t \"a\"\\b\u00e9\r/build/gregor-web-0f3a/out"}"#;
        assert_eq!(
            web_out_dir(web),
            Some(PathBuf::from("/w/t \"a\"\\bé\r/build/gregor-web-0f3a/out"))
        );
        let other = web.replace("gregor-web-0f3a", "gregor-web-e2e-0f3a");
        assert_eq!(web_out_dir(&other), None);
        let other = web.replace("gregor-web-0f3a", "gregor-sim-0f3a");
        assert_eq!(web_out_dir(&other), None);
        let artifact = web.replace("build-script-executed", "compiler-artifact");
        assert_eq!(web_out_dir(&artifact), None);
        assert_eq!(web_out_dir(&web[..web.len() - 3]), None, "unterminated");
    }
}
