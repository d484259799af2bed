use crate::api::{list_devices, list_users, CreateUser, DeleteUser, SetUserDisabled, MIN_PASSWORD_CHARS_HINT};
use crate::components::action_error;
use leptos::prelude::*;

/// Admins create accounts (there is no self-registration), disable and enable them, and
/// delete them. Disabling or deleting ends the account's sessions at once. Below, the compute
/// devices the server found at start.
#[component]
pub fn AdminPage() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let disable = ServerAction::<SetUserDisabled>::new();
    let delete = ServerAction::<DeleteUser>::new();
    let users = Resource::new(
        move || (create.version().get(), disable.version().get(), delete.version().get()),
        |_| list_users(),
    );
    view! {
        <section class="card">
            <h1>"Users"</h1>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(list) => view! {
                            <ul class="plain" data-testid="users">
                                {list.into_iter().map(|u| view! {
                                    <li class="row" data-disabled=u.disabled.to_string()>
                                        <span>{u.username}{u.is_admin.then_some(" (admin)")}{u.disabled.then_some(" (disabled)")}</span>
                                        <ActionForm action=disable attr:class="inline">
                                            <input type="hidden" name="id" value=u.id/>
                                            <input type="hidden" name="disabled" value=(!u.disabled).to_string()/>
                                            <button type="submit">{if u.disabled { "Enable" } else { "Disable" }}</button>
                                        </ActionForm>
                                        <ActionForm action=delete attr:class="inline">
                                            <input type="hidden" name="id" value=u.id/>
                                            <button type="submit" class="danger">"Delete"</button>
                                        </ActionForm>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            {action_error(disable.value())}
            {action_error(delete.value())}
            <p class="hint">"Disabling or deleting an account logs it out everywhere at once. Someone who is the last owner of a project cannot be deleted until another member is made an owner there."</p>
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
        <Devices/>
    }
}

/// The server's compute devices: what jobs can run on, the default marked.
#[component]
fn Devices() -> impl IntoView {
    let devices = Resource::new(|| (), |_| list_devices());
    view! {
        <section class="card">
            <h2>"Compute devices"</h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match devices.await {
                        Ok(list) => view! {
                            <table class="devices" data-testid="devices">
                                <thead><tr><th>"Device"</th><th>"Name"</th><th>"Backend"</th><th>"Memory"</th><th></th></tr></thead>
                                <tbody>
                                    {list.into_iter().map(|d| view! {
                                        <tr data-device=d.id.clone()>
                                            <td><code>{d.id.clone()}</code></td>
                                            <td>{d.name.clone()}</td>
                                            <td>{d.backend.clone()}</td>
                                            <td>{d.memory_bytes.map(|b| crate::format::bytes(b as f64)).unwrap_or_else(|| "—".into())}</td>
                                            <td>
                                                {d.default.then_some("default")}
                                                {(d.default && d.software).then_some(", ")}
                                                {d.software.then_some("software renderer (runs on the CPU, slowly)")}
                                            </td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            <p class="hint">"Jobs run on the default device unless their form names another (start the server with --device to change it). Each device trains one model at a time; a second training on the same device waits in the queue."</p>
        </section>
    }
}
