use crate::api::{list_projects, list_trash, CreateProject, RestoreProject};
use crate::components::action_error;
use leptos::prelude::*;
use leptos_router::components::A;

/// The user's projects, a form to start one, and the owner's trash.
#[component]
pub fn ProjectsPage() -> impl IntoView {
    let create = ServerAction::<CreateProject>::new();
    let restore = ServerAction::<RestoreProject>::new();
    let changes = move || (create.version().get(), restore.version().get());
    let projects = Resource::new(changes, |_| list_projects());
    let trash = Resource::new(changes, |_| list_trash());
    view! {
        <section class="card">
            <h1>"Projects"</h1>
            <ActionForm action=create attr:class="row">
                <input name="name" placeholder="New project name" required maxlength="120"/>
                <button type="submit">"Create project"</button>
            </ActionForm>
            {action_error(create.value())}
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match projects.await {
                        Ok(list) if list.is_empty() => view! { <p class="hint">"No projects yet: create one above."</p> }.into_any(),
                        Ok(list) => view! {
                            <ul class="projects" data-testid="projects">
                                {list.into_iter().map(|p| view! {
                                    <li>
                                        <A href=format!("/projects/{}", p.id)>{p.name}</A>
                                        <span class="badge">{p.role.label()}</span>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let list = trash.await.unwrap_or_default();
                (!list.is_empty()).then(|| view! {
                    <section class="card">
                        <h2>"Trash"</h2>
                        <ul class="projects" data-testid="trash">
                            {list.into_iter().map(|p| view! {
                                <li>
                                    <span>{p.name}</span>
                                    <ActionForm action=restore attr:class="inline">
                                        <input type="hidden" name="id" value=p.id/>
                                        <button type="submit">"Restore"</button>
                                    </ActionForm>
                                </li>
                            }).collect_view()}
                        </ul>
                        {action_error(restore.value())}
                    </section>
                })
            })}
        </Transition>
    }
}
