use crate::api::ChangePassword;
use crate::components::action_error;
use leptos::prelude::*;

#[component]
pub fn AccountPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let done = move || matches!(change.value().get(), Some(Ok(())));
    view! {
        <section class="card narrow">
            <h1>"Your account"</h1>
            <h2>"Change password"</h2>
            <ActionForm action=change attr:class="stack">
                <label>"Current password" <input type="password" name="current" autocomplete="current-password" required/></label>
                <label>"New password" <input type="password" name="new" autocomplete="new-password" required/></label>
                <button type="submit">"Change password"</button>
            </ActionForm>
            {action_error(change.value())}
            <Show when=done><p class="ok">"Password changed. Your other sessions are logged out."</p></Show>
        </section>
    }
}
