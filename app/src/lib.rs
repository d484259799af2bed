//! Doppel's web app: Leptos components and pages (rendered on the server, hydrated in the
//! browser) and the server functions they call.
//!
//! Features: `ssr` (server side; pulls in the store and axum glue) and `hydrate` (browser).

#![recursion_limit = "256"]

pub mod api;
mod chart;
mod components;
mod format;
mod routes;

use components::nav::Nav;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

/// The HTML document around the app (server side). Sets the page's Content-Security-Policy
/// with this response's nonce, which Leptos also puts on its inline hydration scripts.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    api::ssr::set_page_csp();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="doppel" href="/pkg/doppel.css"/>
        <Title text="Doppel"/>
        <Router>
            <Nav/>
            <main>
                <Routes fallback=routes::not_found::NotFound>
                    <Route path=path!("/") view=routes::projects::ProjectsPage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=routes::login::LoginPage ssr=SsrMode::Async/>
                    <Route path=path!("/setup") view=routes::setup::SetupPage ssr=SsrMode::Async/>
                    <Route path=path!("/projects/:id") view=routes::project::ProjectPage ssr=SsrMode::Async/>
                    <Route path=path!("/projects/:id/facesets/:set") view=routes::face_set::FaceSetPage ssr=SsrMode::Async/>
                    <Route path=path!("/projects/:id/facesets/:set/faces/:file") view=routes::face_editor::FaceEditorPage ssr=SsrMode::Async/>
                    <Route path=path!("/projects/:id/train") view=routes::train::TrainPage ssr=SsrMode::Async/>
                    <Route path=path!("/projects/:id/convert") view=routes::convert::ConvertPage ssr=SsrMode::Async/>
                    <Route path=path!("/account") view=routes::account::AccountPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin") view=routes::admin::AdminPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}
