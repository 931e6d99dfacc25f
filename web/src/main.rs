//! The classroom's entry point: in the browser it inflates the built-in scenarios and lessons,
//! then mounts the yew app on the page's body.

#[cfg(target_arch = "wasm32")]
fn main() {
    wasm_bindgen_futures::spawn_local(async {
        match gregor_web::builtin::load().await {
            Ok(()) => {
                yew::Renderer::<gregor_web::app::App>::new().render();
            }
            Err(e) => show_error(&e),
        }
    });
}

/// Puts an error that stops the classroom from starting on the page, where a learner sees it.
#[cfg(target_arch = "wasm32")]
fn show_error(message: &str) {
    if let Some(body) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.body())
    {
        body.set_text_content(Some(&format!("The classroom cannot start: {message}")));
    }
}

/// Natively there is nothing to show: the classroom runs in a browser.
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    println!("The classroom runs in a browser: `cargo xtask classroom` builds and serves it.");
}
