//! The scenarios and lessons built into the classroom, parsed at build time by `build.rs` (see
//! [`gregor_sim::compiled`]): the page decodes them instead of parsing TOML, which keeps the
//! TOML parser and the scenario checks out of the WebAssembly bundle.
//!
//! Native builds embed the bundle. The page fetches it zlib-compressed from [`FILE`], beside
//! the page, and inflates it once, before the app mounts, with the browser's
//! `DecompressionStream` (`load`, in that build only). It is content, not code: most of it is
//! the lessons' prose, and it is kept out of the wasm so that the wasm holds only the program.
//! Each build asks for its own bundle and checks that it got it (by its FNV-1a digest), so a
//! stale copy in a cache is an error that says so, never a wrong scenario.

use gregor_sim::compiled::Bundle;
use gregor_sim::lesson::CheckedLesson;
use gregor_sim::scenario::Scenario;
use std::sync::OnceLock;

static BUNDLE: OnceLock<Bundle> = OnceLock::new();

#[cfg(not(target_arch = "wasm32"))]
static BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bundle.bin"));

#[cfg(not(target_arch = "wasm32"))]
fn bundle() -> &'static Bundle {
    // The bytes were written by this very build from the same types, so they always read.
    BUNDLE.get_or_init(|| Bundle::decode(BYTES).expect("the built-in bundle reads"))
}

/// The file beside the page that holds the compressed bundle; `cargo xtask bundle` writes it.
pub const FILE: &str = "builtin.zlib";

/// The FNV-1a digest of the bundle this build was made with.
pub const DIGEST: u64 = match u64::from_str_radix(env!("GREGOR_BUILTIN_FNV"), 16) {
    Ok(digest) => digest,
    Err(_) => panic!("build.rs writes GREGOR_BUILTIN_FNV in hexadecimal"),
};

#[cfg(target_arch = "wasm32")]
fn bundle() -> &'static Bundle {
    // main awaits `load` before it mounts the app, and nothing else reads the bundle.
    BUNDLE
        .get()
        .expect("the built-in bundle is loaded before the app mounts")
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

/// Fetches, inflates and decodes the built-in bundle; the page calls it once, before the app
/// mounts. An error names what failed: the file missing or from another build, or a browser
/// without `DecompressionStream` (Chrome 80, Firefox 113 and Safari 16.4 have it).
#[cfg(target_arch = "wasm32")]
pub async fn load() -> Result<(), String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    // A JavaScript error shows its message; anything else as the browser prints it.
    let js = |what: &str, e: wasm_bindgen::JsValue| {
        let why = e
            .dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .or_else(|| e.as_string())
            .unwrap_or_else(|| format!("{e:?}"));
        format!("{what}: {why}")
    };
    let window = web_sys::window().ok_or("no browser window")?;
    // The digest in the address makes a cache keep each build's bundle apart.
    let response = JsFuture::from(window.fetch_with_str(&format!("{FILE}?{DIGEST:016x}")))
        .await
        .map_err(|e| js(&format!("cannot fetch {FILE}"), e))?;
    let response: web_sys::Response = response
        .dyn_into()
        .map_err(|e| js(&format!("cannot fetch {FILE}"), e))?;
    if !response.ok() {
        return Err(format!(
            "cannot fetch {FILE}, which holds the scenarios and lessons: the server answered {} {} \
             (it belongs beside index.html)",
            response.status(),
            response.status_text()
        ));
    }
    let inflater = DecompressionStream::new("deflate").map_err(|e| {
        js(
            "this browser cannot inflate the built-in scenarios (DecompressionStream)",
            e,
        )
    })?;
    let body = response
        .body()
        .ok_or_else(|| format!("{FILE} has no body to read"))?;
    let pair = web_sys::ReadableWritablePair::new(&inflater.readable(), &inflater.writable());
    let inflated = web_sys::Response::new_with_opt_readable_stream(Some(&body.pipe_through(&pair)))
        .map_err(|e| js(&format!("cannot inflate {FILE}"), e))?;
    let buffer = inflated
        .array_buffer()
        .map_err(|e| js(&format!("cannot inflate {FILE}"), e))?;
    let buffer = JsFuture::from(buffer)
        .await
        .map_err(|e| js(&format!("cannot inflate {FILE}"), e))?;
    let buffer: js_sys::ArrayBuffer = buffer
        .dyn_into()
        .map_err(|e| js(&format!("the inflated {FILE} is not bytes"), e))?;
    let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
    let digest = gregor_core::rng::fnv1a(&bytes);
    if digest != DIGEST {
        return Err(format!(
            "{FILE} ({digest:016x}) is from another build than this page ({DIGEST:016x}): \
             one of them is a stale copy in a cache, or the bundle was copied only in part. \
             Reload the page bypassing the cache (Ctrl+Shift+R), or copy all of web/dist again"
        ));
    }
    let bundle = Bundle::decode(&bytes)?;
    // A second call finds the bundle already there, which is as good.
    let _ = BUNDLE.set(bundle);
    Ok(())
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
/// them, but parsed at build time.
pub fn course() -> Result<Vec<CheckedLesson>, String> {
    bundle().course()
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
        let course = course().unwrap();
        let ids: Vec<&str> = course.iter().map(|c| c.lesson.id.as_str()).collect();
        let shipped = gregor_lessons::shipped().unwrap();
        assert_eq!(
            ids,
            shipped.iter().map(|l| l.id.as_str()).collect::<Vec<_>>()
        );
    }

    /// What the page fetches and inflates is the bundle native builds embed, and the digest it
    /// checks is that bundle's.
    #[test]
    fn the_compressed_bundle_inflates_to_the_bundle() {
        let compressed = include_bytes!(concat!(env!("OUT_DIR"), "/bundle.zlib"));
        let inflated = miniz_oxide::inflate::decompress_to_vec_zlib(compressed).unwrap();
        assert_eq!(inflated, BYTES);
        assert_eq!(gregor_core::rng::fnv1a(&inflated), DIGEST);
        assert!(
            compressed.len() * 3 < BYTES.len(),
            "{} bytes",
            compressed.len()
        );
    }
}
