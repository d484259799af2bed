//! The frame editor's canvases (browser only; the page renders them after hydration):
//! [`FrameCanvas`] shows a face's source frame with its box and 68 landmarks, and lets points
//! or whole groups be dragged, the box moved or resized by its corners (box mode), the view
//! zoomed (wheel, about the cursor) and panned (drag on empty space); [`MaskCanvas`] shows the face's crop with its mask and paints (left button) or
//! erases (right button or Shift) it with a round brush.

use super::editor_state::{moved, nearest, View, GROUPS};
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

#[derive(Clone)]
enum Drag {
    Point { index: usize, group: bool, start: Vec<[f32; 2]>, from: [f32; 2] },
    /// The box moved (`corner: None`) or resized by one corner (0 top left, clockwise).
    Box { start: [f32; 4], from: [f32; 2], corner: Option<usize> },
    Pan { from: (f64, f64), view: View },
}

/// The corners of a box `[x, y, w, h]`, top left first, clockwise.
fn corners(r: [f32; 4]) -> [[f32; 2]; 4] {
    [[r[0], r[1]], [r[0] + r[2], r[1]], [r[0] + r[2], r[1] + r[3]], [r[0], r[1] + r[3]]]
}

/// `start` moved by `(dx, dy)`, or with `corner` moved by it and the opposite corner kept.
fn dragged_box(start: [f32; 4], corner: Option<usize>, dx: f32, dy: f32) -> [f32; 4] {
    let Some(c) = corner else { return [start[0] + dx, start[1] + dy, start[2], start[3]] };
    let pts = corners(start);
    let (moved, kept) = ([pts[c][0] + dx, pts[c][1] + dy], pts[(c + 2) % 4]);
    let (x0, x1) = (moved[0].min(kept[0]), moved[0].max(kept[0]));
    let (y0, y1) = (moved[1].min(kept[1]), moved[1].max(kept[1]));
    [x0, y0, (x1 - x0).max(4.0), (y1 - y0).max(4.0)]
}

#[component]
pub fn FrameCanvas(
    /// The frame's JPEG.
    src: String,
    /// The detector's box, `[x, y, w, h]` in frame pixels (changed live while dragging).
    rect: RwSignal<[f32; 4]>,
    /// Drags move or resize the box instead of the points.
    box_mode: RwSignal<bool>,
    /// A box drag ended: the box it left.
    on_box: Callback<[f32; 4]>,
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
            view.set(View::around(rect.get_untracked(), f64::from(w), f64::from(w * 3 / 4)));
        }
    });
    Effect::new(move |_| {
        let (v, points, hot, _, rect, boxing) = (view.get(), landmarks.get(), hover.get(), loaded.get(), rect.get(), box_mode.get());
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
        let (bx, by) = v.to_canvas([rect[0], rect[1]]);
        ctx.set_stroke_style_str("#2fd27a");
        ctx.set_line_width(if boxing { 2.5 } else { 1.5 });
        ctx.stroke_rect(bx, by, f64::from(rect[2]) * v.scale, f64::from(rect[3]) * v.scale);
        if boxing {
            ctx.set_fill_style_str("#2fd27a");
            for c in corners(rect) {
                let (x, y) = v.to_canvas(c);
                ctx.fill_rect(x - 5.0, y - 5.0, 10.0, 10.0);
            }
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
            let r = rect.get_untracked();
            let corner = corners(r).iter().position(|c| {
                let (cx, cy) = v.to_canvas(*c);
                (cx - x).hypot(cy - y) <= 10.0
            });
            let inside = at[0] >= r[0] && at[0] <= r[0] + r[2] && at[1] >= r[1] && at[1] <= r[1] + r[3];
            if corner.is_some() || inside {
                drag.set_value(Some(Drag::Box { start: r, from: at, corner }));
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
            Some(Drag::Box { start, from, corner }) => {
                let at = view.get_untracked().to_frame(x, y);
                rect.set(dragged_box(start, corner, at[0] - from[0], at[1] - from[1]));
            }
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
            Some(Drag::Box { .. }) => on_box.run(rect.get_untracked()),
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

/// A square greyscale mask as an RGBA canvas of its own size (for drawing and for PNG export).
fn mask_canvas(mask: &[u8], side: u32) -> Option<HtmlCanvasElement> {
    let doc = web_sys::window()?.document()?;
    let c: HtmlCanvasElement = doc.create_element("canvas").ok()?.dyn_into().ok()?;
    c.set_width(side);
    c.set_height(side);
    let rgba: Vec<u8> = mask.iter().flat_map(|&m| [m, m, m, 255]).collect();
    let data = web_sys::ImageData::new_with_u8_clamped_array_and_sh(wasm_bindgen::Clamped(&rgba), side, side).ok()?;
    context(&c)?.put_image_data(&data, 0.0, 0.0).ok()?;
    Some(c)
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
        let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
        let Some(o) = doc.create_element("canvas").ok().and_then(|e| e.dyn_into::<HtmlCanvasElement>().ok()) else { return };
        o.set_width(s);
        o.set_height(s);
        if let (Some(octx), Ok(data)) = (context(&o), web_sys::ImageData::new_with_u8_clamped_array_and_sh(wasm_bindgen::Clamped(&overlay), s, s)) {
            let _ = octx.put_image_data(&data, 0.0, 0.0);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_move_and_resize_by_a_corner() {
        let r = [10.0, 20.0, 100.0, 50.0];
        assert_eq!(dragged_box(r, None, 5.0, -5.0), [15.0, 15.0, 100.0, 50.0]);
        // The bottom right corner out: larger; the top left stays.
        assert_eq!(dragged_box(r, Some(2), 10.0, 10.0), [10.0, 20.0, 110.0, 60.0]);
        // The top left corner dragged past the bottom right: the box flips, never negative.
        assert_eq!(dragged_box(r, Some(0), 150.0, 0.0), [110.0, 20.0, 50.0, 50.0]);
        assert_eq!(dragged_box(r, Some(1), -100.0, 0.0)[2], 4.0, "at least 4 px");
    }
}
