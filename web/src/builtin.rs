//! The scenarios and lessons built into the classroom, parsed at build time by `build.rs` (see
//! [`gregor_sim::compiled`]): the page decodes them instead of parsing TOML, which keeps the
//! TOML parser and the scenario checks out of the WebAssembly bundle.
//!
//! Every build embeds the scenarios, which the page needs to start. (Embedded as they are, the
//! gzipped wasm is a kilobyte smaller than with them zlib-compressed and inflated at start.)
//! The lessons are mostly prose, content rather than program, and most of a visit needs none
//! of it: the page fetches them zlib-compressed from [`LESSONS_FILE`], beside the page, when a
//! learner opens the lessons or a link names one (`load_lessons`, in that build only), and
//! inflates them with the browser's `DecompressionStream`. Native builds embed them too. Each
//! build asks for its own lessons and checks that it got them (by their FNV-1a digest), so a
//! stale copy in a cache is an error that says so, never a lesson that does not fit its
//! scenario.

use gregor_sim::compiled::{Bundle, CompiledLesson};
use gregor_sim::lesson::CheckedLesson;
use gregor_sim::scenario::Scenario;
use std::sync::OnceLock;

fn bundle() -> &'static Bundle {
    static BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/scenarios.bin"));
    static BUNDLE: OnceLock<Bundle> = OnceLock::new();
    // The bytes were written by this very build from the same types, so they always read.
    BUNDLE.get_or_init(|| Bundle::decode(BYTES).expect("the built-in scenarios read"))
}

/// A JavaScript error as `what: message` (anything else as the browser prints it).
#[cfg(target_arch = "wasm32")]
fn js(what: &str, e: wasm_bindgen::JsValue) -> String {
    use wasm_bindgen::JsCast;
    let why = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"));
    format!("{what}: {why}")
}

/// The inflated bytes of a zlib stream's response; errors name `what`.
#[cfg(target_arch = "wasm32")]
async fn inflate(response: web_sys::Response, what: &str) -> Result<Vec<u8>, String> {
    use wasm_bindgen::JsCast;
    let inflater = DecompressionStream::new("deflate").map_err(|e| {
        js(
            &format!("this browser cannot inflate {what} (DecompressionStream)"),
            e,
        )
    })?;
    let body = response
        .body()
        .ok_or_else(|| format!("{what}: no body to read"))?;
    let pair = web_sys::ReadableWritablePair::new(&inflater.readable(), &inflater.writable());
    let failed = |e| js(&format!("cannot inflate {what}"), e);
    let inflated = web_sys::Response::new_with_opt_readable_stream(Some(&body.pipe_through(&pair)))
        .map_err(failed)?;
    let buffer = wasm_bindgen_futures::JsFuture::from(inflated.array_buffer().map_err(failed)?)
        .await
        .map_err(failed)?;
    let buffer: js_sys::ArrayBuffer = buffer.dyn_into().map_err(failed)?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// The file beside the page that holds the compressed lessons; `cargo xtask bundle` writes it.
pub const LESSONS_FILE: &str = "lessons.zlib";

/// The FNV-1a digest of the lessons this build was made with.
pub const LESSONS_DIGEST: u64 = match u64::from_str_radix(env!("GREGOR_LESSONS_FNV"), 16) {
    Ok(digest) => digest,
    Err(_) => panic!("build.rs writes GREGOR_LESSONS_FNV in hexadecimal"),
};

/// The lessons once read, or why they could not be.
static LESSONS: OnceLock<Result<Vec<CompiledLesson>, String>> = OnceLock::new();

#[cfg(not(target_arch = "wasm32"))]
fn lessons() -> Option<&'static Result<Vec<CompiledLesson>, String>> {
    static BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lessons.bin"));
    Some(LESSONS.get_or_init(|| gregor_sim::compiled::decode_lessons(BYTES)))
}

#[cfg(target_arch = "wasm32")]
fn lessons() -> Option<&'static Result<Vec<CompiledLesson>, String>> {
    LESSONS.get()
}

// web-sys has `DecompressionStream` only behind its unstable-API switch, although every
// current browser ships it: these four lines bind what the page uses.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    type DecompressionStream;
    #[wasm_bindgen(constructor, catch)]
    fn new(format: &str) -> Result<DecompressionStream, wasm_bindgen::JsValue>;
    #[wasm_bindgen(method, getter)]
    fn readable(this: &DecompressionStream) -> web_sys::ReadableStream;
    #[wasm_bindgen(method, getter)]
    fn writable(this: &DecompressionStream) -> web_sys::WritableStream;
}

/// Fetches, inflates and decodes the lessons, once; [`course`] then has them, or the reason
/// they could not be read: the file missing or from another build, or a browser without
/// `DecompressionStream` (Chrome 80, Firefox 113 and Safari 16.4 have it).
#[cfg(target_arch = "wasm32")]
pub async fn load_lessons() {
    if LESSONS.get().is_none() {
        let read = fetch_lessons().await;
        // A second load that raced this one found the same file, which is as good.
        let _ = LESSONS.set(read);
    }
}

#[cfg(target_arch = "wasm32")]
async fn fetch_lessons() -> Result<Vec<CompiledLesson>, String> {
    use wasm_bindgen::JsCast;
    const FILE: &str = LESSONS_FILE;
    let window = web_sys::window().ok_or("no browser window")?;
    let failed = |e| js(&format!("cannot fetch {FILE}"), e);
    // The digest in the address makes a cache keep each build's lessons apart.
    let response = wasm_bindgen_futures::JsFuture::from(
        window.fetch_with_str(&format!("{FILE}?{LESSONS_DIGEST:016x}")),
    )
    .await
    .map_err(failed)?;
    let response: web_sys::Response = response.dyn_into().map_err(failed)?;
    if !response.ok() {
        return Err(format!(
            "cannot fetch {FILE}, which holds the lessons: the server answered {} {} \
             (it belongs beside index.html)",
            response.status(),
            response.status_text()
        ));
    }
    let bytes = inflate(response, FILE).await?;
    let digest = gregor_core::rng::fnv1a(&bytes);
    if digest != LESSONS_DIGEST {
        return Err(format!(
            "{FILE} ({digest:016x}) is from another build than this page \
             ({LESSONS_DIGEST:016x}): one of them is a stale copy in a cache, or the bundle was \
             copied only in part. Reload the page bypassing the cache (Ctrl+Shift+R), or copy \
             all of web/dist again"
        ));
    }
    gregor_sim::compiled::decode_lessons(&bytes)
}

/// The scenario a link's id names (a shipped one or `custom-B-P-R-M`), with the classroom's
/// clients, exactly as [`gregor_sim::library::scenario`] parses it, but without a shipped
/// scenario's TOML text, which the page does not show.
pub fn scenario(id: &str) -> Result<Scenario, String> {
    bundle().scenario(id)
}

/// The shipped scenarios' ids, the default first.
pub fn shipped_ids() -> impl Iterator<Item = &'static str> {
    bundle().shipped.iter().map(|(id, _)| id.as_str())
}

/// The shipped lessons with what their words mean, as [`gregor_sim::lesson::check`] gives
/// them, but parsed at build time; `None` while the page has not loaded them yet.
pub fn course() -> Option<Result<Vec<CheckedLesson>, String>> {
    lessons().map(|read| {
        read.as_ref()
            .map_err(Clone::clone)
            .and_then(|lessons| bundle().course(lessons))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classroom's scenarios and lessons are the command line's, shipped and custom.
    #[test]
    fn the_built_in_material_is_what_the_files_say() {
        let ids: Vec<&str> = shipped_ids().collect();
        let files: Vec<&str> = gregor_sim::library::SHIPPED.iter().map(|s| s.id).collect();
        assert_eq!(ids, files);
        for id in ids {
            let mut parsed = gregor_sim::library::scenario(id).unwrap();
            parsed.source = String::new();
            assert_eq!(scenario(id).unwrap(), parsed, "{id}");
        }
        for id in ["custom-1-1-1-1", "custom-5-8-3-2"] {
            assert_eq!(scenario(id), gregor_sim::library::scenario(id), "{id}");
        }
        let course = course().unwrap().unwrap();
        let ids: Vec<&str> = course.iter().map(|c| c.lesson.id.as_str()).collect();
        let shipped = gregor_lessons::shipped().unwrap();
        assert_eq!(
            ids,
            shipped.iter().map(|l| l.id.as_str()).collect::<Vec<_>>()
        );
    }

    /// What the page fetches and inflates is the lessons native builds embed, and the digest
    /// it checks is theirs.
    #[test]
    fn the_compressed_lessons_inflate_to_the_lessons() {
        let bytes = include_bytes!(concat!(env!("OUT_DIR"), "/lessons.bin"));
        let compressed = include_bytes!(concat!(env!("OUT_DIR"), "/lessons.zlib"));
        let inflated = miniz_oxide::inflate::decompress_to_vec_zlib(compressed).unwrap();
        assert_eq!(inflated, bytes);
        assert_eq!(gregor_core::rng::fnv1a(&inflated), LESSONS_DIGEST);
        assert!(
            compressed.len() * 3 < bytes.len(),
            "{} bytes",
            compressed.len()
        );
    }
}
