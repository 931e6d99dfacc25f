//! The classroom's entry point: in the browser it mounts the yew app on the page's body.

#[cfg(target_arch = "wasm32")]
fn main() {
    yew::Renderer::<gregor_web::app::App>::new().render();
}

/// Natively there is nothing to show: the classroom runs in a browser.
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    println!("The classroom runs in a browser: `cargo xtask classroom` builds and serves it.");
}
