//! The classroom's entry point: in the browser it mounts the yew app on the page's body, after
//! loading the lessons when the page's link names one.

#[cfg(target_arch = "wasm32")]
fn main() {
    wasm_bindgen_futures::spawn_local(async {
        // The first view of a link that names a lesson shows the lesson, so it waits for the
        // lessons; any other link starts at once, and the lessons load when wanted.
        let hash = web_sys::window()
            .and_then(|w| w.location().hash().ok())
            .unwrap_or_default();
        if gregor_web::share::Link::decode(&hash).is_ok_and(|link| link.lesson.is_some()) {
            gregor_web::builtin::load_lessons().await;
        }
        yew::Renderer::<gregor_web::app::App>::new().render();
    });
}

/// Natively there is nothing to show: the classroom runs in a browser.
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    println!("The classroom runs in a browser: `cargo xtask classroom` builds and serves it.");
}
