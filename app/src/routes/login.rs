use crate::api::Login;
use crate::components::action_error;
use leptos::prelude::*;

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    view! {
        <section class="card narrow">
            <h1>"Log in"</h1>
            <ActionForm action=login attr:class="stack">
                <label>"Username" <input name="username" autocomplete="username" required/></label>
                <label>"Password" <input type="password" name="password" autocomplete="current-password" required/></label>
                <button type="submit">"Log in"</button>
            </ActionForm>
            {action_error(login.value())}
            <p class="hint">"No account? An admin of this Doppel server creates them."</p>
        </section>
    }
}
