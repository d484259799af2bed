use crate::api::{AppError, MemberDto, SetMember};
use crate::components::action_error;
use leptos::prelude::*;

/// Members and roles of a project; owners invite existing users here. The page makes the
/// resource (keyed by `invite`'s version) outside its suspended part.
#[component]
pub fn Members(project: i64, invite: ServerAction<SetMember>, members: Resource<Result<Vec<MemberDto>, AppError>>) -> impl IntoView {
    view! {
        <h3>"Members"</h3>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match members.await {
                    Ok(list) => view! {
                        <ul class="plain" data-testid="members">
                            {list.into_iter().map(|m| view! { <li>{m.username}" — "{m.role.label()}</li> }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
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
