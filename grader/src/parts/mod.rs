//! The registry of course parts, and the stages of each, one module per
//! part.

use crate::part::Part;

pub mod chat;
pub mod kv;
pub mod lock_manager;
pub mod map_reduce;
pub mod ping_pong;
pub mod shortener;
pub mod shortener_improved;

/// Every part the grader knows, in course order, then the labs.
pub fn all() -> Vec<Part> {
    let mut all = vec![
        ping_pong::part(),
        map_reduce::part(),
        shortener::part(),
        shortener_improved::part(),
        chat::part(),
    ];
    all.extend(labs());
    all
}

/// The labs: the seeds' integration exercises, each graded like a part.
pub fn labs() -> Vec<Part> {
    vec![kv::part(), lock_manager::part()]
}

/// Finds a part by id ("ping-pong"), number ("1", "01") or directory name
/// ("01-ping-pong"); a lab by id ("kv") or directory ("lab-kv").
pub fn find(name: &str) -> Option<Part> {
    let name = name.trim().trim_end_matches('/');
    let name = name.rsplit('/').next().unwrap_or(name);
    all().into_iter().find(|p| {
        p.id == name || p.dir == name || (!p.lab && name.parse::<u32>().ok() == Some(p.number))
    })
}

/// The names the command line accepts, for error messages.
pub fn known_names() -> String {
    all()
        .iter()
        .map(|p| match p.lab {
            false => format!("{} ({})", p.id, p.number),
            true => format!("{} (lab)", p.id),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
