//! FFmpeg's log, routed into `tracing` instead of the terminal.
//!
//! FFmpeg prints to stderr by default. After [`install`], only messages at error level or worse
//! are kept: each goes to `tracing` (target `ffmpeg`, level debug: the caller reports the
//! resulting [`MediaError`](super::MediaError) itself) and the latest one of the current thread
//! is kept, so a failed open can say *why* ("moov atom not found").

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr};

use ffmpeg_next::ffi;

thread_local! {
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Keeps FFmpeg quiet below error level and sends what remains to `tracing`.
pub(crate) fn install() {
    ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `callback` matches FFmpeg's log callback signature and never unwinds.
    unsafe {
        ffi::av_log_set_callback(Some(callback));
    }
}

/// Forgets the current thread's last FFmpeg error (call before an operation).
pub(crate) fn clear_last_error() {
    let _ = LAST_ERROR.try_with(|last| last.try_borrow_mut().map(|mut l| l.take()));
}

/// The current thread's last FFmpeg error message since [`clear_last_error`], lowercased.
pub(crate) fn take_last_error() -> Option<String> {
    LAST_ERROR
        .try_with(|last| last.try_borrow_mut().ok().and_then(|mut l| l.take()))
        .ok()
        .flatten()
        .map(|message| super::error::lowercase_first(&message))
        .filter(|message| !message.is_empty())
}

/// FFmpeg's `av_log` callback. The `va_list` is passed on untouched to FFmpeg's own formatter.
///
/// Only built for x86_64, where bindgen spells `va_list` as `*mut __va_list_tag`; elsewhere
/// FFmpeg's default callback prints errors to stderr.
#[cfg(target_arch = "x86_64")]
unsafe extern "C" fn callback(
    avcl: *mut c_void,
    level: c_int,
    fmt: *const c_char,
    args: *mut ffi::__va_list_tag,
) {
    // SAFETY: reading FFmpeg's global log level has no preconditions.
    if level > unsafe { ffi::av_log_get_level() } || fmt.is_null() {
        return;
    }
    let mut line = [0 as c_char; 1024];
    let mut print_prefix: c_int = 0;
    // SAFETY: FFmpeg hands us a valid format string and argument list for it; `line` is
    // writable for the length given, and the function always NUL-terminates it.
    unsafe {
        ffi::av_log_format_line2(
            avcl,
            level,
            fmt,
            args,
            line.as_mut_ptr(),
            line.len() as c_int,
            &mut print_prefix,
        );
    }
    // SAFETY: `line` is NUL-terminated (see above) and lives for this borrow.
    let message = unsafe { CStr::from_ptr(line.as_ptr()) }.to_string_lossy();
    let message = message.trim();
    if message.is_empty() {
        return;
    }
    tracing::debug!(target: "ffmpeg", level, "{message}");
    let _ = LAST_ERROR.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = Some(message.to_owned());
        }
    });
}
