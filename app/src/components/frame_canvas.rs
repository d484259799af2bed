//! The frame editor's canvases (browser only; the page renders them after hydration):
//! [`FrameCanvas`] shows a face's source frame with its box and 68 landmarks, and lets points
//! or whole groups be dragged, the box moved or resized by its corners (box mode), the view
//! zoomed (wheel, about the cursor) and panned (drag on empty space); [`MaskCanvas`] shows the face's crop with its mask and paints (left button) or
//! erases (right button or Shift) it with a round brush.

use super::editor_state::{moved, nearest, FaceBox, View, GROUPS};
use leptos::ev::{MouseEvent, WheelEvent};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlImageElement};

/// Canvas pixels within which a click takes a landmark.
const PICK_RADIUS: f64 = 8.0;

fn context(canvas: &HtmlCanvasElement) -> Option<CanvasRenderingContext2d> {
    canvas.get_context("2d").ok().flatten()?.dyn_into().ok()
}

/// Canvas pixels of a mouse event on `canvas` (its CSS size may differ from its pixel size).
fn canvas_point(canvas: &HtmlCanvasElement, ev: &MouseEvent) -> (f64, f64) {
    let sx = f64::from(canvas.width()) / f64::from(canvas.client_width().max(1));
    let sy = f64::from(canvas.height()) / f64::from(canvas.client_height().max(1));
    (f64::from(ev.offset_x()) * sx, f64::from(ev.offset_y()) * sy)
}

/// An image element that bumps `loaded` when its pixels are there.
fn load_image(src: &str, loaded: RwSignal<u32>) -> Option<send_wrapper::SendWrapper<HtmlImageElement>> {
    let img = HtmlImageElement::new().ok()?;
    let on_load = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(move || loaded.update(|n| *n += 1));
    img.set_onload(Some(on_load.as_ref().unchecked_ref()));
    on_load.forget();
    img.set_src(src);
    Some(send_wrapper::SendWrapper::new(img))
}

/// Canvas pixels between the box's top and its turning handle.
const HANDLE: f64 = 24.0;

#[derive(Clone)]
enum Drag {
    Point { index: usize, group: bool, start: Vec<[f32; 2]>, from: [f32; 2] },
    /// The box moved.
    Box { start: FaceBox, from: [f32; 2] },
    /// The box resized by one corner (0 top left, clockwise).
    Corner { start: FaceBox, corner: usize },
    /// The box turned by its handle.
    Turn { start: FaceBox },
    Pan { from: (f64, f64), view: View },
}

#[component]
pub fn FrameCanvas(
    /// The frame's JPEG.
    src: String,
    /// The aligner's box in frame pixels (changed live while dragging).
    face_box: RwSignal<FaceBox>,
    /// Drags move, resize or turn the box instead of the points.
    box_mode: RwSignal<bool>,
    /// A box drag ended: the box it left.
    on_box: Callback<FaceBox>,
    /// The points as shown (changed live while dragging).
    landmarks: RwSignal<Vec<[f32; 2]>>,
    /// Drag a point's whole group (eye, brow, jaw, ...) instead of the point.
    group_mode: RwSignal<bool>,
    /// Bumped to fit the view to the face again.
    fit: RwSignal<u32>,
    /// A drag ended: the points it left.
    on_commit: Callback<Vec<[f32; 2]>>,
    /// Whether points may be moved (viewers only look).
    editable: bool,
    /// The face's mask (in its crop, `mask_side` square) drawn over the frame when `show_mask`.
    mask: RwSignal<Vec<u8>>,
    mask_side: RwSignal<u32>,
    show_mask: RwSignal<bool>,
    /// The crop's side and its crop -> frame transform (canvas order).
    crop_size: u32,
    crop_to_frame: [f64; 6],
) -> impl IntoView {
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let loaded = RwSignal::new(0u32);
    let image = StoredValue::new_local(load_image(&src, loaded));
    let view = RwSignal::new(View { scale: 1.0, ox: 0.0, oy: 0.0 });
    let hover = RwSignal::new(None::<usize>);
    let drag = StoredValue::new_local(None::<Drag>);

    Effect::new(move |_| {
        fit.track();
        if let Some(c) = canvas.get() {
            // The canvas' pixels match its CSS width; 4:3.
            let w = c.client_width().max(320) as u32;
            c.set_width(w);
            c.set_height(w * 3 / 4);
            view.set(View::around(face_box.get_untracked().bounds(), f64::from(w), f64::from(w * 3 / 4)));
        }
    });
    Effect::new(move |_| {
        let (v, points, hot, _, fb, boxing) = (view.get(), landmarks.get(), hover.get(), loaded.get(), face_box.get(), box_mode.get());
        let Some(c) = canvas.get_untracked() else { return };
        let Some(ctx) = context(&c) else { return };
        let (w, h) = (f64::from(c.width()), f64::from(c.height()));
        let _ = ctx.set_transform(1.0, 0.0, 0.0, 1.0, 0.0, 0.0);
        ctx.set_fill_style_str("#111");
        ctx.fill_rect(0.0, 0.0, w, h);
        image.with_value(|img| {
            if let Some(img) = img.as_ref().filter(|i| i.complete() && i.natural_width() > 0) {
                let _ = ctx.set_transform(v.scale, 0.0, 0.0, v.scale, v.ox, v.oy);
                let _ = ctx.draw_image_with_html_image_element(img, 0.0, 0.0);
                let _ = ctx.set_transform(1.0, 0.0, 0.0, 1.0, 0.0, 0.0);
            }
        });
        // The mask over the frame: green where the new face will show.
        let side = mask_side.get();
        if show_mask.get() && side > 0 {
            let tinted: Vec<u8> = mask.with(|m| m.iter().flat_map(|&a| [60, 220, 140, (u16::from(a) * 100 / 255) as u8]).collect());
            if let Some(overlay) = rgba_canvas(&tinted, side) {
                let [a, b, c, d, e, f] = crop_to_frame;
                let k = f64::from(crop_size) / f64::from(side);
                let _ = ctx.set_transform(v.scale, 0.0, 0.0, v.scale, v.ox, v.oy);
                let _ = ctx.transform(a, b, c, d, e, f);
                let _ = ctx.scale(k, k);
                let _ = ctx.draw_image_with_html_canvas_element(&overlay, 0.0, 0.0);
                let _ = ctx.set_transform(1.0, 0.0, 0.0, 1.0, 0.0, 0.0);
            }
        }
        ctx.set_stroke_style_str("#2fd27a");
        ctx.set_line_width(if boxing { 2.5 } else { 1.5 });
        ctx.begin_path();
        for (k, c) in fb.corners().iter().enumerate() {
            let (x, y) = v.to_canvas(*c);
            if k == 0 { ctx.move_to(x, y) } else { ctx.line_to(x, y) }
        }
        ctx.close_path();
        ctx.stroke();
        if boxing {
            ctx.set_fill_style_str("#2fd27a");
            for c in fb.corners() {
                let (x, y) = v.to_canvas(c);
                ctx.fill_rect(x - 5.0, y - 5.0, 10.0, 10.0);
            }
            let (hx, hy) = v.to_canvas(fb.handle((HANDLE / v.scale) as f32));
            let (tx, ty) = v.to_canvas(fb.handle(0.0));
            ctx.begin_path();
            ctx.move_to(tx, ty);
            ctx.line_to(hx, hy);
            ctx.stroke();
            ctx.begin_path();
            let _ = ctx.arc(hx, hy, 6.0, 0.0, std::f64::consts::TAU);
            ctx.fill();
        }
        let hot_group = hot.map(|i| super::editor_state::group_of(i).0);
        for (_, range, closed) in GROUPS.iter().cloned() {
            ctx.begin_path();
            for (k, i) in range.clone().enumerate() {
                let Some(p) = points.get(i) else { continue };
                let (x, y) = v.to_canvas(*p);
                if k == 0 { ctx.move_to(x, y) } else { ctx.line_to(x, y) }
            }
            if closed {
                ctx.close_path();
            }
            ctx.set_stroke_style_str("rgba(255,255,255,.55)");
            ctx.set_line_width(1.0);
            ctx.stroke();
        }
        for (i, p) in points.iter().enumerate() {
            let (x, y) = v.to_canvas(*p);
            let lit = hot == Some(i) || (group_mode.get_untracked() && hot_group.as_ref().is_some_and(|g| g.contains(&i)));
            ctx.begin_path();
            let _ = ctx.arc(x, y, if lit { 5.0 } else { 3.0 }, 0.0, std::f64::consts::TAU);
            ctx.set_fill_style_str(if lit { "#ffd23f" } else { "#ff4d4d" });
            ctx.fill();
        }
    });

    let on_down = move |ev: MouseEvent| {
        let Some(c) = canvas.get_untracked() else { return };
        ev.prevent_default();
        let (x, y) = canvas_point(&c, &ev);
        let v = view.get_untracked();
        let at = v.to_frame(x, y);
        if editable && box_mode.get_untracked() && ev.button() == 0 {
            let fb = face_box.get_untracked();
            let near = |p: [f32; 2]| {
                let (cx, cy) = v.to_canvas(p);
                (cx - x).hypot(cy - y) <= 10.0
            };
            let grabbed = if near(fb.handle((HANDLE / v.scale) as f32)) {
                Some(Drag::Turn { start: fb })
            } else if let Some(corner) = fb.corners().iter().position(|c| near(*c)) {
                Some(Drag::Corner { start: fb, corner })
            } else if fb.contains(at) {
                Some(Drag::Box { start: fb, from: at })
            } else {
                None
            };
            if grabbed.is_some() {
                drag.set_value(grabbed);
                return;
            }
        }
        let hit = if editable && !box_mode.get_untracked() { nearest(&landmarks.get_untracked(), &v, x, y, PICK_RADIUS) } else { None };
        drag.set_value(Some(match hit {
            Some(index) if ev.button() == 0 => Drag::Point { index, group: group_mode.get_untracked() || ev.alt_key(), start: landmarks.get_untracked(), from: v.to_frame(x, y) },
            _ => Drag::Pan { from: (x, y), view: v },
        }));
    };
    let on_move = move |ev: MouseEvent| {
        let Some(c) = canvas.get_untracked() else { return };
        let (x, y) = canvas_point(&c, &ev);
        match drag.get_value() {
            Some(Drag::Point { index, group, start, from }) => {
                let at = view.get_untracked().to_frame(x, y);
                landmarks.set(moved(&start, index, group, at[0] - from[0], at[1] - from[1]));
            }
            Some(Drag::Box { start, from }) => {
                let at = view.get_untracked().to_frame(x, y);
                face_box.set(start.moved(at[0] - from[0], at[1] - from[1]));
            }
            Some(Drag::Corner { start, corner }) => face_box.set(start.resized(corner, view.get_untracked().to_frame(x, y))),
            Some(Drag::Turn { start }) => face_box.set(start.turned_towards(view.get_untracked().to_frame(x, y))),
            Some(Drag::Pan { from, view: v }) => view.set(View { ox: v.ox + x - from.0, oy: v.oy + y - from.1, ..v }),
            None => {
                let hit = nearest(&landmarks.get_untracked(), &view.get_untracked(), x, y, PICK_RADIUS);
                if hit != hover.get_untracked() {
                    hover.set(hit);
                }
            }
        }
    };
    let on_up = move |_| {
        match drag.get_value() {
            Some(Drag::Point { .. }) => on_commit.run(landmarks.get_untracked()),
            Some(Drag::Box { .. } | Drag::Corner { .. } | Drag::Turn { .. }) => on_box.run(face_box.get_untracked()),
            _ => {}
        }
        drag.set_value(None);
    };
    let on_wheel = move |ev: WheelEvent| {
        let Some(c) = canvas.get_untracked() else { return };
        ev.prevent_default();
        let (x, y) = canvas_point(&c, &ev);
        let factor = if ev.delta_y() < 0.0 { 1.15 } else { 1.0 / 1.15 };
        view.update(|v| *v = v.zoomed(factor, x, y));
    };
    view! {
        <canvas class="frame-canvas" node_ref=canvas data-testid="frame-canvas"
            data-view=move || { let v = view.get(); format!("{},{},{}", v.scale, v.ox, v.oy) }
            on:mousedown=on_down on:mousemove=on_move on:mouseup=on_up on:mouseleave=on_up on:wheel=on_wheel
            on:contextmenu=|ev| ev.prevent_default()></canvas>
    }
}

/// RGBA pixels of a `side` square as a canvas of their own.
fn rgba_canvas(rgba: &[u8], side: u32) -> Option<HtmlCanvasElement> {
    if rgba.len() != (side * side * 4) as usize {
        return None;
    }
    let doc = web_sys::window()?.document()?;
    let c: HtmlCanvasElement = doc.create_element("canvas").ok()?.dyn_into().ok()?;
    c.set_width(side);
    c.set_height(side);
    let data = web_sys::ImageData::new_with_u8_clamped_array_and_sh(wasm_bindgen::Clamped(rgba), side, side).ok()?;
    context(&c)?.put_image_data(&data, 0.0, 0.0).ok()?;
    Some(c)
}

/// A square greyscale mask as an RGBA canvas of its own size (for PNG export).
fn mask_canvas(mask: &[u8], side: u32) -> Option<HtmlCanvasElement> {
    rgba_canvas(&mask.iter().flat_map(|&m| [m, m, m, 255]).collect::<Vec<u8>>(), side)
}

/// The mask as a `data:image/png;base64,` URL, for saving.
pub fn mask_png_url(mask: &[u8], side: u32) -> Option<String> {
    mask_canvas(mask, side)?.to_data_url().ok()
}

/// Decodes the greyscale PNG (base64) `png` into `mask` (its red channel) and `side`.
pub fn decode_mask(png: &str, mask: RwSignal<Vec<u8>>, side: RwSignal<u32>) {
    let Ok(img) = HtmlImageElement::new() else { return };
    let held = img.clone();
    let on_load = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(move || {
        let s = held.natural_width();
        let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
        let Some(c) = doc.create_element("canvas").ok().and_then(|e| e.dyn_into::<HtmlCanvasElement>().ok()) else { return };
        c.set_width(s);
        c.set_height(s);
        let Some(ctx) = context(&c) else { return };
        let _ = ctx.draw_image_with_html_image_element(&held, 0.0, 0.0);
        if let Ok(data) = ctx.get_image_data(0.0, 0.0, f64::from(s), f64::from(s)) {
            let bytes = data.data().0;
            side.set(s);
            mask.set(bytes.chunks_exact(4).map(|p| p[0]).collect());
        }
    });
    img.set_onload(Some(on_load.as_ref().unchecked_ref()));
    on_load.forget();
    img.set_src(&format!("data:image/png;base64,{png}"));
}

#[component]
pub fn MaskCanvas(
    /// The face crop (PNG).
    src: String,
    mask: RwSignal<Vec<u8>>,
    side: RwSignal<u32>,
    /// Brush radius in mask pixels.
    radius: RwSignal<f64>,
    /// A stroke ended.
    on_commit: Callback<()>,
    editable: bool,
) -> impl IntoView {
    const DISPLAY: u32 = 384;
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let loaded = RwSignal::new(0u32);
    let image = StoredValue::new_local(load_image(&src, loaded));
    let painting = StoredValue::new(None::<bool>);
    Effect::new(move |_| {
        let (_, s) = (loaded.get(), side.get());
        let Some(c) = canvas.get() else { return };
        let Some(ctx) = context(&c) else { return };
        let d = f64::from(DISPLAY);
        ctx.set_fill_style_str("#111");
        ctx.fill_rect(0.0, 0.0, d, d);
        image.with_value(|img| {
            if let Some(img) = img.as_ref().filter(|i| i.complete() && i.natural_width() > 0) {
                let _ = ctx.draw_image_with_html_image_element_and_dw_and_dh(img, 0.0, 0.0, d, d);
            }
        });
        // Outside the mask: tinted red.
        let overlay: Vec<u8> = mask.with(|m| m.iter().flat_map(|&v| [255, 40, 40, ((255 - u16::from(v)) * 150 / 255) as u8]).collect());
        if s == 0 || overlay.len() != (s * s * 4) as usize {
            return;
        }
        if let Some(o) = rgba_canvas(&overlay, s) {
            let _ = ctx.draw_image_with_html_canvas_element_and_dw_and_dh(&o, 0.0, 0.0, d, d);
        }
    });
    let stroke = move |ev: &MouseEvent, paint: bool| {
        let Some(c) = canvas.get_untracked() else { return };
        let (x, y) = canvas_point(&c, ev);
        let s = side.get_untracked();
        let k = f64::from(s) / f64::from(DISPLAY);
        let r = radius.get_untracked();
        mask.update(|m| {
            super::editor_state::brush(m, s as usize, x * k, y * k, r, paint);
        });
    };
    let on_down = move |ev: MouseEvent| {
        if !editable {
            return;
        }
        ev.prevent_default();
        let paint = ev.button() == 0 && !ev.shift_key();
        painting.set_value(Some(paint));
        stroke(&ev, paint);
    };
    let on_move = move |ev: MouseEvent| {
        if let Some(paint) = painting.get_value() {
            stroke(&ev, paint);
        }
    };
    let on_up = move |_| {
        if painting.get_value().is_some() {
            painting.set_value(None);
            on_commit.run(());
        }
    };
    view! {
        <canvas class="mask-canvas" node_ref=canvas width=DISPLAY height=DISPLAY data-testid="mask-canvas"
            on:mousedown=on_down on:mousemove=on_move on:mouseup=on_up on:mouseleave=on_up
            on:contextmenu=|ev| ev.prevent_default()></canvas>
    }
}

