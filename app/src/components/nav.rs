use crate::api::{whoami, Logout};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

/// Top bar: the product, the user, and logout.
#[component]
pub fn Nav() -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    // Refetched on every navigation, so login and logout redirects show at once.
    let location = use_location();
    let me = Resource::new(move || location.pathname.get(), |_| whoami());
    view! {
        <header class="topbar">
            <A href="/" attr:class="brand">"Doppel"</A>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match me.await {
                        Ok(Some(me)) => {
                            view! {
                                <nav>
                                    <A href="/">"Projects"</A>
                                    {me.is_admin.then(|| view! { <A href="/admin">"Users"</A> })}
                                    <A href="/account">{me.username.clone()}</A>
                                    <ActionForm action=logout attr:class="inline">
                                        <button type="submit" class="link">"Log out"</button>
                                    </ActionForm>
                                </nav>
                            }
                                .into_any()
                        }
                        _ => view! { <nav><A href="/login">"Log in"</A></nav> }.into_any(),
                    }
                })}
            </Transition>
        </header>
    }
}
