use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
        opts.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="card narrow">
            <h1>"Not found"</h1>
            <p>"There is nothing here, or you have no role on it."</p>
            <p><a href="/">"Back to your projects"</a></p>
        </section>
    }
}
