//! Logging set-up for node binaries: every line says which node wrote it.

use crate::pid::NodeName;

/// Installs a stderr logger (level from `RUST_LOG`, default `info`) whose lines
/// start with the node's name. Does nothing if a logger is already installed.
pub fn init(node: &NodeName) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .fmt_fields(tracing_subscriber::fmt::format::DefaultFields::new())
        .event_format(Prefixed {
            node: node.to_string(),
        })
        .try_init();
    report_holes_in_one_line(node);
}

/// A `todo!()` reached in a starter is a hole to fill, not a crash to debug:
/// it is reported in one line (where, and the hole's message) whatever
/// `RUST_BACKTRACE` says, as the grader shows it. Other panics keep Rust's
/// usual report, backtrace included.
fn report_holes_in_one_line(node: &NodeName) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let node = node.to_string();
    ONCE.call_once(move || {
        let usual = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            match crate::exit::panic_text(info.payload()) {
                Some(msg) if msg.starts_with("not yet implemented") => {
                    let at = info
                        .location()
                        .map(|l| format!(" ({}:{})", l.file(), l.line()))
                        .unwrap_or_default();
                    eprintln!("[{node}] a hole is not filled in yet{at}: {msg}");
                }
                _ => usual(info),
            }
        }));
    });
}

struct Prefixed {
    node: String,
}

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for Prefixed
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = now.as_secs() % 86400;
        write!(
            writer,
            "{:02}:{:02}:{:02}.{:03} [{}] {:>5} ",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            now.subsec_millis(),
            self.node,
            event.metadata().level()
        )?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
