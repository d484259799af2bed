//! The gallery's grid: every face of a set as a thumbnail, virtualised (only the rows in view
//! and a few around are in the DOM, so 10,000 faces scroll like 100), with selection by click,
//! Shift-click (range), Ctrl/Cmd-click (toggle), a rubber band dragged from empty space, and the
//! keyboard (arrows, Shift+arrows, Home/End, Ctrl+A, Ctrl+I to invert, Escape, Enter to open,
//! Delete). A click on a group's header selects the group (Ctrl/Shift: adds it).
//!
//! Browser only: the page renders it after hydration (its sizes come from the DOM).

use super::grid_layout::{Layout, Row, CELL, PAD};
use crate::api::GalleryFace;
use leptos::ev::{KeyboardEvent, MouseEvent};
use leptos::prelude::*;
use std::collections::HashSet;

/// Rows rendered above and below the visible ones.
const MARGIN_ROWS: usize = 3;

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Header { group: u32, top: f64 },
    /// `v`: bumped when the face is edited, so its thumbnail is fetched again.
    Face { file: String, index: usize, x: f64, y: f64, v: u32 },
}

impl Item {
    /// Stable while scrolling; new when a face moves (resize, sort), which re-renders it.
    fn key(&self) -> String {
        match self {
            Item::Header { group, top } => format!("h{group}@{top}"),
            Item::Face { file, x, y, v, .. } => format!("{file}@{x},{y}#{v}"),
        }
    }
}

type Corner = (f64, f64);

#[component]
pub fn FaceGrid(
    faces: RwSignal<Vec<GalleryFace>>,
    groups: RwSignal<Vec<String>>,
    selected: RwSignal<HashSet<String>>,
    /// Faces edited since the page loaded, and how often.
    versions: RwSignal<std::collections::HashMap<String, u32>>,
    /// The thumbnail URL of a face file at a version.
    thumb: Callback<(String, u32), String>,
    /// Delete or Backspace pressed.
    on_delete: Callback<()>,
    /// A face double-clicked, or Enter on the focused one.
    on_open: Callback<String>,
) -> impl IntoView {
    let scroller = NodeRef::<leptos::html::Div>::new();
    let (width, view_h, scroll_top) = (RwSignal::new(1000.0), RwSignal::new(600.0), RwSignal::new(0.0));
    let (anchor, focus) = (RwSignal::new(None::<usize>), RwSignal::new(None::<usize>));
    let band = RwSignal::new(None::<(Corner, Corner)>);
    let band_base = StoredValue::new(HashSet::<String>::new());

    let measure = move || {
        if let Some(el) = scroller.get_untracked() {
            width.set(f64::from(el.client_width()));
            view_h.set(f64::from(el.client_height()));
            scroll_top.set(f64::from(el.scroll_top()));
        }
    };
    Effect::new(move |_| {
        if scroller.get().is_some() {
            measure();
        }
    });
    let resize = window_event_listener(leptos::ev::resize, move |_| measure());
    on_cleanup(move || resize.remove());

    let layout = Memo::new(move |_| {
        let headers = groups.with(|g| !g.is_empty());
        faces.with(|f| Layout::new(&f.iter().map(|x| x.group).collect::<Vec<_>>(), width.get(), headers))
    });
    // A focus past the end (faces were deleted) moves to the last face.
    Effect::new(move |_| {
        let n = faces.with(Vec::len);
        if focus.get_untracked().is_some_and(|i| i >= n) {
            focus.set(n.checked_sub(1));
        }
    });
    let items = Memo::new(move |_| {
        let top = scroll_top.get();
        let bottom = top + view_h.get();
        let versions = versions.get();
        layout.with(|l| {
            faces.with(|f| {
                let mut out = Vec::new();
                for row in &l.rows[l.rows_in(top, bottom, MARGIN_ROWS)] {
                    match *row {
                        Row::Header { group, top } => out.push(Item::Header { group, top }),
                        Row::Faces { start, end, top } => out.extend((start..end).map(|i| Item::Face {
                            file: f[i].file.clone(),
                            index: i,
                            x: PAD + (i - start) as f64 * CELL,
                            y: top,
                            v: versions.get(&f[i].file).copied().unwrap_or(0),
                        })),
                    }
                }
                out
            })
        })
    });

    let file_at = move |i: usize| faces.with_untracked(|f| f.get(i).map(|x| x.file.clone()));
    let range = move |a: usize, b: usize| -> Vec<String> { faces.with_untracked(|f| f[a.min(b)..=a.max(b).min(f.len().saturating_sub(1))].iter().map(|x| x.file.clone()).collect()) };
    let click = move |ev: MouseEvent, i: usize| {
        let Some(file) = file_at(i) else { return };
        let toggle = ev.ctrl_key() || ev.meta_key();
        match (ev.shift_key(), anchor.get_untracked()) {
            (true, Some(a)) => selected.update(|s| {
                if !toggle {
                    s.clear();
                }
                s.extend(range(a, i));
            }),
            _ if toggle => {
                selected.update(|s| {
                    if !s.remove(&file) {
                        s.insert(file);
                    }
                });
                anchor.set(Some(i));
            }
            _ => {
                selected.set(HashSet::from([file]));
                anchor.set(Some(i));
            }
        }
        focus.set(Some(i));
    };

    // Content coordinates (inside the scrolled canvas) of a mouse event.
    let point = move |ev: &MouseEvent| -> Option<Corner> {
        let el = scroller.get_untracked()?;
        let rect = el.get_bounding_client_rect();
        Some((f64::from(ev.client_x()) - rect.left() + f64::from(el.scroll_left()), f64::from(ev.client_y()) - rect.top() + f64::from(el.scroll_top())))
    };
    let on_down = move |ev: MouseEvent| {
        use wasm_bindgen::JsCast;
        let on_face = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()).is_some_and(|el| el.closest(".gallery-face").ok().flatten().is_some());
        if on_face || ev.button() != 0 {
            return;
        }
        let Some(p) = point(&ev) else { return };
        // Scrollbar clicks land outside the canvas' width.
        if p.0 - f64::from(scroller.get_untracked().map_or(0, |el| el.scroll_left())) > width.get_untracked() {
            return;
        }
        ev.prevent_default();
        if let Some(el) = scroller.get_untracked() {
            // Without scrolling the page: a click that scrolled would land on something else.
            let options = web_sys::FocusOptions::new();
            options.set_prevent_scroll(true);
            let _ = el.focus_with_options(&options);
        }
        let keep = ev.ctrl_key() || ev.meta_key() || ev.shift_key();
        band_base.set_value(if keep { selected.get_untracked() } else { HashSet::new() });
        if !keep {
            selected.update(|s| s.clear());
        }
        band.set(Some((p, p)));
    };
    let on_move = move |ev: MouseEvent| {
        let Some((start, _)) = band.get_untracked() else { return };
        let Some(p) = point(&ev) else { return };
        band.set(Some((start, p)));
        let hits = layout.with_untracked(|l| l.hits(start, p));
        let mut chosen = band_base.get_value();
        faces.with_untracked(|f| chosen.extend(hits.iter().filter_map(|&i| f.get(i)).map(|x| x.file.clone())));
        selected.set(chosen);
    };
    let on_up = move |_| band.set(None);
    let pick_group = move |ev: MouseEvent, group: u32| {
        let members: Vec<String> = faces.with_untracked(|f| f.iter().filter(|x| x.group == group).map(|x| x.file.clone()).collect());
        let keep = ev.ctrl_key() || ev.meta_key() || ev.shift_key();
        selected.update(|s| {
            if !keep {
                s.clear();
            }
            s.extend(members);
        });
    };

    let scroll_to = move |i: usize| {
        let (Some(el), Some((_, y))) = (scroller.get_untracked(), layout.with_untracked(|l| l.position(i))) else { return };
        let (top, h) = (f64::from(el.scroll_top()), f64::from(el.client_height()));
        if y < top {
            el.set_scroll_top((y - PAD) as i32);
        } else if y + CELL > top + h {
            el.set_scroll_top((y + CELL - h + PAD) as i32);
        }
    };
    let on_key = move |ev: KeyboardEvent| {
        let key = ev.key();
        match key.as_str() {
            "Delete" | "Backspace" => {
                ev.prevent_default();
                on_delete.run(());
            }
            "Escape" => selected.update(|s| s.clear()),
            "Enter" => {
                if let Some(file) = focus.get_untracked().and_then(file_at) {
                    on_open.run(file);
                }
            }
            "a" | "A" if ev.ctrl_key() || ev.meta_key() => {
                ev.prevent_default();
                selected.set(faces.with_untracked(|f| f.iter().map(|x| x.file.clone()).collect()));
            }
            "i" | "I" if ev.ctrl_key() || ev.meta_key() => {
                ev.prevent_default();
                let now = selected.get_untracked();
                selected.set(faces.with_untracked(|f| f.iter().filter(|x| !now.contains(&x.file)).map(|x| x.file.clone()).collect()));
            }
            k => {
                let to = match focus.get_untracked() {
                    Some(from) => layout.with_untracked(|l| l.step(from, k)),
                    None if k.starts_with("Arrow") || k == "Home" || k == "End" => file_at(0).map(|_| 0),
                    None => None,
                };
                let Some(to) = to else { return };
                ev.prevent_default();
                focus.set(Some(to));
                match (ev.shift_key(), anchor.get_untracked()) {
                    (true, Some(a)) => selected.set(range(a, to).into_iter().collect()),
                    _ => {
                        selected.set(file_at(to).into_iter().collect());
                        anchor.set(Some(to));
                    }
                }
                scroll_to(to);
            }
        }
    };

    view! {
        <div class="gallery" node_ref=scroller tabindex="0" data-testid="faces"
            on:scroll=move |_| if let Some(el) = scroller.get_untracked() { scroll_top.set(f64::from(el.scroll_top())) }
            on:keydown=on_key on:mousedown=on_down on:mousemove=on_move on:mouseup=on_up on:mouseleave=on_up>
            <div class="gallery-canvas" style=move || format!("height:{}px", layout.with(|l| l.height))>
                <For each=move || items.get() key=Item::key let:item>
                    {match item {
                        Item::Header { group, top } => view! {
                            <div class="gallery-header" style=format!("transform:translateY({top}px)") data-group=group
                                title="Select this group (Ctrl or Shift: add it)" on:click=move |ev| pick_group(ev, group)>
                                {move || groups.with(|g| g.get(group as usize).cloned().unwrap_or_default())}
                            </div>
                        }.into_any(),
                        Item::Face { file, index, x, y, v } => {
                            let (mine, opened, name, src) = (file.clone(), file.clone(), file.clone(), thumb.run((file.clone(), v)));
                            view! {
                                <div class="gallery-face" data-face=name data-index=index
                                    class:selected=move || selected.with(|s| s.contains(&mine))
                                    class:focus=move || focus.get() == Some(index)
                                    style=format!("transform:translate({x}px,{y}px)")
                                    on:click=move |ev| click(ev, index)
                                    on:dblclick=move |_| on_open.run(opened.clone())>
                                    <img src=src alt="" title=file loading="lazy" draggable="false"/>
                                </div>
                            }.into_any()
                        }
                    }}
                </For>
                {move || band.get().map(|((x0, y0), (x1, y1))| view! {
                    <div class="gallery-band" style=format!("left:{}px;top:{}px;width:{}px;height:{}px", x0.min(x1), y0.min(y1), (x1 - x0).abs(), (y1 - y0).abs())></div>
                })}
            </div>
        </div>
    }
}
