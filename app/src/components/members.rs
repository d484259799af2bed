use crate::api::{AppError, MemberDto, RemoveMember, SetMember};
use crate::components::action_error;
use leptos::prelude::*;

/// Members and roles of a project; owners invite existing users and remove members here. The
/// page makes the resource (keyed by `invite`'s version) outside its suspended part; a removal
/// reloads it.
#[component]
pub fn Members(project: i64, invite: ServerAction<SetMember>, members: Resource<Result<Vec<MemberDto>, AppError>>) -> impl IntoView {
    let remove = ServerAction::<RemoveMember>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = remove.value().get() {
            members.refetch();
        }
    });
    view! {
        <h3>"Members"</h3>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match members.await {
                    Ok(list) => view! {
                        <ul class="plain" data-testid="members">
                            {list.into_iter().map(|m| view! {
                                <li class="row">
                                    <span>{m.username.clone()}" — "{m.role.label()}</span>
                                    <ActionForm action=remove attr:class="inline">
                                        <input type="hidden" name="id" value=project/>
                                        <input type="hidden" name="member" value=m.username/>
                                        <button type="submit" class="link">"remove"</button>
                                    </ActionForm>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
        {action_error(remove.value())}
        <ActionForm action=invite attr:class="row">
            <input type="hidden" name="id" value=project/>
            <input name="username" placeholder="username" required/>
            <select name="role">
                <option value="viewer">"viewer"</option>
                <option value="editor" selected>"editor"</option>
                <option value="owner">"owner"</option>
            </select>
            <button type="submit">"Invite"</button>
        </ActionForm>
        {action_error(invite.value())}
    }
}
