use crate::api::{setup_open, SetupAdmin, MIN_PASSWORD_CHARS_HINT};
use crate::components::action_error;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The one-time setup link printed by `doppel serve` on first start creates the first admin.
#[component]
pub fn SetupPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let setup = ServerAction::<SetupAdmin>::new();
    let open = Resource::new(|| (), |_| setup_open());
    view! {
        <section class="card narrow">
            <h1>"Set up Doppel"</h1>
            <Suspense fallback=|| view! { <p>"Checking…"</p> }>
                {move || Suspend::new(async move {
                    match open.await {
                        Ok(true) => view! {
                            <p>"Create the first account. It will be the administrator, who creates the other accounts."</p>
                            <ActionForm action=setup attr:class="stack">
                                <input type="hidden" name="token" value=token/>
                                <label>"Username" <input name="username" autocomplete="username" required/></label>
                                <label>"Password" <input type="password" name="password" autocomplete="new-password" required/></label>
                                <p class="hint">{MIN_PASSWORD_CHARS_HINT}</p>
                                <button type="submit">"Create admin"</button>
                            </ActionForm>
                        }.into_any(),
                        Ok(false) => view! { <p>"Setup is done. " <a href="/login">"Log in"</a></p> }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
            {action_error(setup.value())}
        </section>
    }
}
