use crate::api::{list_users, CreateUser, MIN_PASSWORD_CHARS_HINT};
use crate::components::action_error;
use leptos::prelude::*;

/// Admins create accounts (there is no self-registration).
#[component]
pub fn AdminPage() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let users = Resource::new(move || create.version().get(), |_| list_users());
    view! {
        <section class="card">
            <h1>"Users"</h1>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(list) => view! {
                            <ul class="plain" data-testid="users">
                                {list.into_iter().map(|u| view! {
                                    <li>{u.username}{u.is_admin.then_some(" (admin)")}</li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            <h2>"Create a user"</h2>
            <ActionForm action=create attr:class="stack">
                <label>"Username" <input name="username" autocomplete="off" required/></label>
                <label>"Password" <input type="password" name="password" autocomplete="new-password" required/></label>
                <p class="hint">{MIN_PASSWORD_CHARS_HINT}</p>
                <label class="check"><input type="checkbox" name="is_admin" value="true"/>" Administrator"</label>
                <button type="submit">"Create user"</button>
            </ActionForm>
            {action_error(create.value())}
        </section>
    }
}
