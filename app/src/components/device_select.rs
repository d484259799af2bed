//! The device field of the job forms: the server's compute devices, its default chosen.

use crate::api::{device_label, list_devices};
use leptos::prelude::*;

/// A `device` select of the server's devices with the default chosen; `on_change` hears the
/// chosen id. While the list loads (or when it cannot be read) the form sends no device, and
/// the server uses its default.
#[component]
pub fn DeviceSelect(#[prop(optional, into)] on_change: Option<Callback<String>>) -> impl IntoView {
    let devices = Resource::new(|| (), |_| list_devices());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let list = devices.await.unwrap_or_default();
                (!list.is_empty()).then(|| view! {
                    <label>"Device"
                        <select name="device" data-testid="device" on:change=move |ev| {
                            if let Some(f) = on_change {
                                f.run(event_target_value(&ev));
                            }
                        }>
                            {list.into_iter().map(|d| {
                                let label = device_label(&d);
                                view! { <option value=d.id.clone() selected=d.default>{label}{d.default.then_some(" (default)")}</option> }
                            }).collect_view()}
                        </select>
                    </label>
                })
            })}
        </Transition>
    }
}
