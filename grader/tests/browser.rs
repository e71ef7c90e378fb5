//! `timeline.html` in a real browser: headless Chromium opens the page from
//! `file://`, runs its script, and the test reads back the DOM it left.
//!
//! The unit tests in `report::html` check the markup; only a browser can say
//! that the script runs without an error, that labels measured in a real
//! font do not pile up, and what the page looks like. Without Chromium the
//! test says it skipped (and fails on CI, where it must run).
#![cfg(unix)]

use grader::report::fixtures::{busy_stage, sample_report};
use grader::report::html;
use grader::report::model::RunReport;
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde_json::Value;
use std::io::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a Chromium run may take before it is killed (a healthy one takes
/// about a second and a half).
const TIMEOUT: Duration = Duration::from_secs(60);

/// Flags that keep Chromium off the network and out of the user's profile:
/// without them it waits on connections the closed network never answers.
const FLAGS: [&str; 11] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    // No crash handler: it would start in a session of its own, out of
    // reach of the process group we kill.
    "--disable-crash-reporter",
    "--disable-breakpad",
    "--hide-scrollbars",
];

/// Runs before the page's own script: records every error it could raise.
const PROBE_HEAD: &str = r#"<script>(function(){
var errs=window.__probeErrors=[];
window.addEventListener("error",function(e){
  errs.push(e.message!==undefined&&e.message!==""?"uncaught: "+e.message+" at "+e.filename+":"+e.lineno
    :"failed to load: "+(e.target&&(e.target.src||e.target.href)||e.target));},true);
window.addEventListener("unhandledrejection",function(e){errs.push("unhandled rejection: "+e.reason);});
["error","warn"].forEach(function(k){var f=console[k];console[k]=function(){
  errs.push("console."+k+": "+Array.prototype.join.call(arguments," "));return f.apply(console,arguments);};});
})();</script>"#;

/// Runs after the page's script: measures what it drew as loaded, zoomed
/// in, as the whole stage, back on the opening view and moved by a click in
/// the overview strip, then works the filters, and leaves the results in
/// the DOM as JSON.
const PROBE_TAIL: &str = r#"<script>(function(){
function each(root,sel,f){return Array.prototype.map.call(root.querySelectorAll(sel),f);}
function box(el){var b=el.getBBox();return {x:b.x,y:b.y,w:b.width,h:b.height};}
function shown(el){return getComputedStyle(el).display!=="none";}
function measure(){return each(document,"svg.tl-svg:not(.empty)",function(svg){
  var x0=+svg.getAttribute("data-x0"),x1=+svg.getAttribute("data-x1");
  var marks=Array.prototype.slice.call(svg.querySelectorAll("line.mk")),bins={},busiest=0;
  each(svg,"line.m",function(l){var x=+l.getAttribute("x1");if(!shown(l)||x<x0||x>x1)return;
    var k=Math.floor((x-x0)/20);bins[k]=(bins[k]||0)+1;busiest=Math.max(busiest,bins[k]);});
  return {id:svg.id,ready:svg.hasAttribute("data-ready"),x0:x0,x1:x1,
    end:+svg.getAttribute("data-end"),view:svg.getAttribute("data-view").split(" ").map(Number),
    t0:+svg.getAttribute("data-t0"),t1:+svg.getAttribute("data-t1"),busiest:busiest,
    faults:each(svg,"rect.band",function(r){return +r.getAttribute("data-a");}),
    lanes:each(svg,".lanes rect.lane",function(r){var b=box(r);b.svc=r.classList.contains("svc");return b;}),
    service_labels:each(svg,"text.ln.svc",function(t){return {style:getComputedStyle(t).fontStyle,text:t.lastChild.textContent};}),
    labels:each(svg,"text.bl,text.ml,text.lml",function(t){var b=box(t);b.cls=t.getAttribute("class");
      b.visible=getComputedStyle(t).visibility!=="hidden";b.text=t.lastChild.textContent;b.cut=t.hasAttribute("data-cut");
      b.line=t.hasAttribute("data-tail")?marks.indexOf(svg.querySelector("line.mk[data-m='"+t.getAttribute("data-tail")+"']")):-1;
      return b;}),
    mark_lines:marks.map(function(l){return {x:+l.getAttribute("x1"),y1:+l.getAttribute("y1"),y2:+l.getAttribute("y2")};}),
    dots:each(svg,"circle.lm",function(c){return {cy:+c.getAttribute("cy"),lane:+c.getAttribute("data-lane")};}),
    arrows:each(svg,"line.m:not(.lost)",function(l){return {kind:l.firstChild.textContent.split(" ")[0],
      stroke:getComputedStyle(l).stroke};})};});}
function zoom(z){each(document,".tl-bar [data-z="+z+"]",function(b){b.click();});return measure();}
/* A click in the overview strip, three quarters of the way along. */
function pan(){each(document,"svg.tl-svg:not(.empty)",function(svg){
  var x0=+svg.getAttribute("data-x0"),x1=+svg.getAttribute("data-x1"),oy=svg.getAttribute("data-ov").split(" ").map(Number);
  var p=svg.createSVGPoint();p.x=x0+(x1-x0)*0.75;p.y=oy[0]+oy[1]/2;p=p.matrixTransform(svg.getScreenCTM());
  var at={clientX:p.x,clientY:p.y,button:0,bubbles:true};
  svg.dispatchEvent(new MouseEvent("mousedown",at));window.dispatchEvent(new MouseEvent("mouseup",at));});
  return measure();}
var out={loaded:measure()};
out.zoomed=zoom("in");out.whole=zoom("reset");out.fit=zoom("fit");out.panned=pan();zoom("fit");
out.filters=each(document,".tl-bar",function(bar){
  var svg=document.getElementById(bar.getAttribute("data-for")),r={id:bar.getAttribute("data-for")};
  if(!svg)return r;
  function count(sel){return Array.prototype.filter.call(svg.querySelectorAll(sel),shown).length;}
  function titled(s){return Array.prototype.filter.call(svg.querySelectorAll("line.m"),function(l){
    return shown(l)&&l.firstChild.textContent.indexOf(s)>=0;}).length;}
  r.grader_total=svg.querySelectorAll("line.m.o1").length;r.grader_before=count("line.m.o1");
  var g=bar.querySelector("input[data-f=o1]");
  if(g){g.click();r.grader_after=count("line.m.o1");g.click();r.grader_again=count("line.m.o1");}
  var runtime=Array.prototype.filter.call(bar.querySelectorAll("input[data-grp]"),function(x){
    return x.parentNode.textContent.indexOf("netsplit ")===0;})[0];
  if(runtime){r.runtime_before=titled(" netsplit::");runtime.click();
    r.runtime_after=titled(" netsplit::");r.pings_after=titled(" contracts::ping_pong::Ping ");}
  var ping=Array.prototype.filter.call(bar.querySelectorAll("label"),function(l){
    return l.title==="contracts::ping_pong::Ping";})[0];
  if(ping){var cb=ping.querySelector("input");cb.click();r.pings_hidden=titled(" contracts::ping_pong::Ping ");
    var grp=bar.querySelector("input[data-grp='"+cb.getAttribute("data-in")+"']");r.group_mixed=grp?grp.indeterminate:null;}
  return r;});
out.errors=window.__probeErrors;
var s=document.createElement("script");s.type="application/json";s.id="probe";
s.textContent=JSON.stringify(out).replace(/</g,"\\u003c");document.body.appendChild(s);
})();</script>"#;

/// The sample report, with a stage shaped like a real one (bursts, a long
/// partition, the grader's sampler, marks close together and at the edge).
fn report() -> RunReport {
    let mut report = sample_report();
    let n = report.stages.len() as u32 + 1;
    report.stages.push(busy_stage(n));
    report
}

fn browser_or_skip() -> Option<PathBuf> {
    let browser = find_browser();
    if browser.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "no chromium found, and CI must run the browser test: apt-get install chromium \
                 (or set CHROME to a Chromium or Chrome binary)"
            );
        }
        // Past the test harness's capture, so the skip shows in a plain
        // `cargo test` run too.
        let _ = writeln!(
            std::io::stderr(),
            "skipped: no chromium found (install: apt-get install chromium / brew install --cask chromium)"
        );
    }
    browser
}

#[test]
fn timeline_page_renders_in_a_real_browser() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let report = report();
    let page = dir.path().join("timeline.html");
    html::write(&report, &page).expect("writes the page");

    // The page as written: console, DOM after the script, a screenshot.
    let shot = dir.path().join("timeline.png");
    let run = chromium(
        &browser,
        dir.path(),
        &[
            "--enable-logging=stderr".into(),
            "--v=0".into(),
            "--window-size=1200,1900".into(),
            format!("--screenshot={}", shot.display()),
            "--dump-dom".into(),
            file_url(&page),
        ],
    );
    let console: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .collect();
    assert!(
        console.is_empty(),
        "the page wrote to the console:\n{}",
        console.join("\n")
    );
    check_dom(&report, &run.stdout);
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "screenshot is not a real picture ({} bytes)",
        png.len()
    );
    if let Some(keep) = std::env::var_os("TIMELINE_SCREENSHOT") {
        std::fs::copy(&shot, &keep).expect("copies the screenshot");
        eprintln!("screenshot: {}", PathBuf::from(keep).display());
    }

    // The same page with probes around its script: errors, and geometry
    // measured with the fonts the browser really used.
    let probe = probe(&browser, dir.path(), &page);
    check_probe(&report, &probe);
    eprintln!("browser test took {:.1?}", started.elapsed());
}

/// `TIMELINE_PAGE=…/timeline.html` checks a page a real run wrote the same
/// way (no errors, labels apart, filters that work, a view on the
/// activity); without it the test has nothing to do.
#[test]
fn a_real_runs_page_renders_in_a_real_browser() {
    let Some(page) = std::env::var_os("TIMELINE_PAGE").map(PathBuf::from) else {
        return;
    };
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let probe = probe(&browser, dir.path(), &page);
    check_views(&probe);
    for f in items(&probe, "filters") {
        check_filters(f);
    }
}

/// Runs `page` with the probes around its script; returns what they found.
fn probe(browser: &Path, work: &Path, page: &Path) -> Value {
    let text = std::fs::read_to_string(page).expect("reads the page");
    let probed = text
        .replacen("<head>", &format!("<head>\n{PROBE_HEAD}"), 1)
        .replacen("</body>", &format!("{PROBE_TAIL}\n</body>"), 1);
    let probe_page = work.join("probe.html");
    std::fs::write(&probe_page, probed).expect("writes the probe page");
    let run = chromium(browser, work, &["--dump-dom".into(), file_url(&probe_page)]);
    probe_json(&run.stdout)
}

/// The DOM after the script: every timeline initialised, and per stage as
/// many lanes, arrows, bands and marks as the report has.
fn check_dom(report: &RunReport, dom: &str) {
    assert!(dom.contains("</html>"), "no DOM dumped:\n{dom}");
    let drawn = report
        .stages
        .iter()
        .filter(|s| !s.timeline.nodes.is_empty())
        .count();
    let svgs =
        dom.matches("class=\"tl-svg").count() - dom.matches("class=\"tl-svg empty\"").count();
    assert_eq!(svgs, drawn);
    assert_eq!(
        dom.matches(" data-ready=\"\"").count(),
        drawn,
        "the script did not reach every timeline"
    );
    let mut totals = [0; 6];
    for s in &report.stages {
        let sec = section(dom, s.number);
        let tl = &s.timeline;
        let lanes = sec.matches("<rect class=\"lane").count();
        let services = sec.matches("<rect class=\"lane svc\"").count();
        let control = sec.matches("<rect class=\"lane ctl\"").count();
        let arrows = sec.matches("<line class=\"m k").count();
        // Each band of the sample covers one run of adjacent lanes.
        let bands = sec.matches("<rect class=\"band ").count();
        let stage_marks = sec.matches("<line class=\"mk\"").count();
        let lane_marks = sec.matches("<circle class=\"lm\"").count();
        let n = s.number;
        let graders = tl
            .messages
            .iter()
            .filter(|m| Some(&m.from) == tl.control.as_ref() || Some(&m.to) == tl.control.as_ref())
            .count();
        assert_eq!(
            control,
            usize::from(graders > 0),
            "stage {n}: the grader's lane"
        );
        assert_eq!(lanes, tl.nodes.len() + control, "stage {n}: lanes");
        assert_eq!(services, tl.services.len(), "stage {n}: service lanes");
        let received = tl.messages.iter().filter(|m| m.received_us.is_some());
        assert_eq!(arrows, received.count(), "stage {n}: arrows");
        assert_eq!(bands, tl.bands.len(), "stage {n}: fault bands");
        let on_lanes = tl.marks.iter().filter(|m| m.lane.is_some()).count();
        assert_eq!(lane_marks, on_lanes, "stage {n}: lane marks");
        assert_eq!(stage_marks, tl.marks.len() - on_lanes, "stage {n}: marks");
        if services > 0 {
            assert!(sec.contains("store <tspan class=\"sk\">(redis)</tspan>"));
        }
        if graders > 0 {
            // Filters for each origin, kind and type, the grader's unticked.
            assert!(sec.contains("<input type=\"checkbox\" data-f=\"o1\">"));
            assert!(sec.contains("<input type=\"checkbox\" checked=\"\" data-f=\"o0\">"));
            assert!(sec.contains("data-filter=\"type\""));
        }
        for (t, v) in totals.iter_mut().zip([
            lanes - services - control,
            services,
            control,
            arrows,
            bands,
            lane_marks,
        ]) {
            *t += v;
        }
    }
    // What the sample must show for this test to mean anything.
    let [nodes, services, control, arrows, bands, lane_marks] = totals;
    assert!(
        nodes >= 3 && services >= 1 && control >= 1 && arrows > 0 && bands > 0 && lane_marks > 0
    );
}

fn check_probe(report: &RunReport, probe: &Value) {
    check_views(probe);
    // The store stage as a whole: most lane labels have room.
    let store_stage = report
        .stages
        .iter()
        .position(|s| !s.timeline.services.is_empty())
        .expect("a stage with a service");
    let svg = find(probe, "whole", &format!("tl{store_stage}"));
    let shown = items(svg, "labels")
        .iter()
        .filter(|l| l["cls"] == "lml" && l["visible"] == true)
        .count();
    assert!(shown >= 5, "only {shown} lane mark labels shown");

    // The stage shaped like a real one.
    let busy = report.stages.len() - 1;
    let id = format!("tl{busy}");
    let loaded = find(probe, "loaded", &id);
    let (t0, t1, end) = (num(&loaded["t0"]), num(&loaded["t1"]), num(&loaded["end"]));
    // It opens on the burst of pings and the partition's start, not on
    // the whole stage, and the burst's lines are apart.
    assert!(t0 <= 70_000.0 && t1 >= 72_600.0, "opens on {t0}..{t1}");
    assert!(t1 - t0 < end / 10.0, "opens on {t0}..{t1} of {end}");
    assert!(
        num(&loaded["busiest"]) <= 24.0,
        "{} lines in 20 px as loaded",
        loaded["busiest"]
    );
    let whole = find(probe, "whole", &id);
    assert!(
        num(&whole["busiest"]) > 24.0,
        "the whole stage shows the burst apart too: the view proves nothing"
    );
    // Every stage mark's label has room at the whole stage's scale, the
    // ones at the right edge turned left of their marks.
    let marks: Vec<&Value> = items(whole, "labels")
        .iter()
        .filter(|l| l["cls"] == "ml")
        .collect();
    assert!(marks.len() >= 6);
    assert!(
        marks.iter().all(|l| l["visible"] == true),
        "hidden mark labels: {marks:#?}"
    );
    // A click in the overview strip moves the view there, as wide as it was.
    let panned = find(probe, "panned", &id);
    let (p0, p1) = (num(&panned["t0"]), num(&panned["t1"]));
    assert!(
        (p1 - p0 - (t1 - t0)).abs() <= 1.0,
        "{p0}..{p1} after {t0}..{t1}"
    );
    assert!(
        ((p0 + p1) / 2.0 - 0.75 * end).abs() <= end / 100.0,
        "{p0}..{p1} of {end}"
    );
    let filters = items(probe, "filters")
        .iter()
        .find(|f| f["id"] == id.as_str())
        .expect("the busy stage's filters");
    check_filters(filters);
    assert!(num(&filters["grader_total"]) > 50.0, "{filters}");
    assert!(num(&filters["runtime_before"]) > 0.0, "{filters}");
    assert!(num(&filters["pings_after"]) > 0.0, "{filters}");
}

/// Every timeline in every view: initialised, labels apart and inside the
/// plot, opened on its first fault, `fit` back on the opening view.
fn check_views(probe: &Value) {
    let errors = probe["errors"].as_array().expect("errors");
    assert!(errors.is_empty(), "errors in the page: {errors:#?}");
    for view in ["loaded", "zoomed", "whole", "fit", "panned"] {
        let svgs = probe[view].as_array().expect("svgs");
        assert!(!svgs.is_empty());
        for svg in svgs {
            check_svg(svg, view);
        }
    }
    for svg in items(probe, "loaded") {
        let id = &svg["id"];
        let (t0, t1) = (num(&svg["t0"]), num(&svg["t1"]));
        let view = items(svg, "view");
        assert_eq!(
            (t0, t1),
            (num(&view[0]).round(), num(&view[1]).round()),
            "{id}: not opened on its view"
        );
        assert!(
            0.0 <= t0 && t0 < t1 && t1 <= num(&svg["end"]),
            "{id}: {t0}..{t1}"
        );
        if let Some(first) = items(svg, "faults").iter().map(num).reduce(f64::min) {
            assert!(
                t0 <= first && first <= t1,
                "{id}: first fault at {first} out of {t0}..{t1}"
            );
        }
        let fit = find(probe, "fit", id.as_str().unwrap_or_default());
        assert_eq!((num(&fit["t0"]), num(&fit["t1"])), (t0, t1), "{id}: fit");
        let whole = find(probe, "whole", id.as_str().unwrap_or_default());
        assert_eq!(num(&whole["t0"]), 0.0, "{id}: all");
        assert_eq!(num(&whole["t1"]), num(&svg["end"]), "{id}: all");
    }
}

/// The filters of one timeline: the grader's own traffic hidden until its
/// box is ticked, the runtime's types hidden in one click with the rest
/// still shown, one type hidden alone leaving its group half ticked.
fn check_filters(f: &Value) {
    let id = &f["id"];
    if f.get("grader_after").is_some() {
        assert_eq!(
            f["grader_before"], 0,
            "{id}: the grader's own shown by default"
        );
        assert_eq!(
            f["grader_after"], f["grader_total"],
            "{id}: ticked, not all shown"
        );
        assert_eq!(f["grader_again"], 0, "{id}: unticked again, still shown");
    }
    if f.get("runtime_after").is_some() {
        assert_eq!(f["runtime_after"], 0, "{id}: netsplit types still shown");
    }
    if f.get("pings_hidden").is_some() {
        assert_eq!(f["pings_hidden"], 0, "{id}: Ping still shown");
        assert_eq!(f["group_mixed"], true, "{id}: its group not half ticked");
    }
}

fn find<'a>(probe: &'a Value, view: &str, id: &str) -> &'a Value {
    items(probe, view)
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no {view} timeline {id}"))
}

/// One timeline: labels apart, inside the plot and crossed by no other
/// mark's line, dots on their lanes, service lanes below the nodes and
/// styled apart, store arrows coloured apart from every other kind.
fn check_svg(svg: &Value, view: &str) {
    let id = format!("{view} {}", svg["id"]);
    assert_eq!(svg["ready"], true, "{id}: script did not initialise it");
    let (x0, x1) = (num(&svg["x0"]), num(&svg["x1"]));
    let labels: Vec<&Value> = items(svg, "labels")
        .iter()
        .filter(|l| l["visible"] == true)
        .collect();
    let lines = items(svg, "mark_lines");
    for (i, a) in labels.iter().enumerate() {
        let (ax, aw) = (num(&a["x"]), num(&a["w"]));
        assert!(
            ax >= x0 - 0.5 && ax + aw <= x1 + 0.5,
            "{id}: label {} runs out of the plot ({ax:.1}..{:.1} outside {x0}..{x1})",
            a["text"],
            ax + aw
        );
        for b in &labels[i + 1..] {
            assert!(
                !overlap(a, b),
                "{id}: labels {} and {} overlap",
                a["text"],
                b["text"]
            );
        }
        // Under the lanes, no other mark's line runs through a mark's
        // label (inside a lane, a label's halo covers a line under it).
        if a["cls"] != "ml" {
            continue;
        }
        let (ay, ah) = (num(&a["y"]), num(&a["h"]));
        for (j, l) in lines.iter().enumerate() {
            let (x, y1, y2) = (num(&l["x"]), num(&l["y1"]), num(&l["y2"]));
            let own = a["line"].as_i64() == Some(j as i64);
            let in_view = (x0..=x1).contains(&x);
            assert!(
                own || !in_view || x < ax || x > ax + aw || y2 <= ay || y1 >= ay + ah,
                "{id}: a mark's line at x {x:.1} crosses the label {}",
                a["text"]
            );
        }
    }
    let lanes = items(svg, "lanes");
    for dot in items(svg, "dots") {
        let lane = &lanes[num(&dot["lane"]) as usize];
        let (y, h, cy) = (num(&lane["y"]), num(&lane["h"]), num(&dot["cy"]));
        assert!(
            y < cy && cy < y + h,
            "{id}: lane mark at y {cy} off its lane"
        );
    }
    let node_bottom = lanes
        .iter()
        .filter(|l| l["svc"] == false)
        .map(|l| num(&l["y"]) + num(&l["h"]))
        .fold(0.0, f64::max);
    for svc in lanes.iter().filter(|l| l["svc"] == true) {
        assert!(
            num(&svc["y"]) > node_bottom,
            "{id}: service lane among nodes"
        );
    }
    for label in items(svg, "service_labels") {
        assert_eq!(label["style"], "italic", "{id}: service label style");
    }
    let arrows = items(svg, "arrows");
    let store: Vec<&Value> = arrows.iter().filter(|a| a["kind"] == "store").collect();
    for s in &store {
        assert_eq!(s["stroke"], store[0]["stroke"]);
        for other in arrows.iter().filter(|a| a["kind"] != "store") {
            assert_ne!(
                other["stroke"], s["stroke"],
                "{id}: {} arrows drawn in the store's colour",
                other["kind"]
            );
        }
    }
}

fn overlap(a: &Value, b: &Value) -> bool {
    let gap = |p: f64, pw: f64, q: f64, qw: f64| p + pw <= q + 0.5 || q + qw <= p + 0.5;
    !(gap(num(&a["x"]), num(&a["w"]), num(&b["x"]), num(&b["w"]))
        || gap(num(&a["y"]), num(&a["h"]), num(&b["y"]), num(&b["h"])))
}

fn items<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v[key].as_array().map_or(&[], Vec::as_slice)
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn probe_json(dom: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"probe\">";
    let start = dom
        .find(open)
        .unwrap_or_else(|| panic!("the probe did not run:\n{dom}"))
        + open.len();
    let end = start + dom[start..].find("</script>").expect("probe ends");
    serde_json::from_str(&dom[start..end]).expect("probe JSON")
}

/// Stage `n`'s section of the page.
fn section(html: &str, n: u32) -> &str {
    let start = html
        .find(&format!("<section class=\"stage\" id=\"stage-{n}\">"))
        .unwrap_or_else(|| panic!("no section for stage {n}"));
    let end = html[start..]
        .find("</section>")
        .map_or(html.len(), |e| start + e);
    &html[start..end]
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// `CHROME` if set, else the first of the usual names on `PATH`.
fn find_browser() -> Option<PathBuf> {
    if let Some(chrome) = std::env::var_os("CHROME").filter(|c| !c.is_empty()) {
        let chrome = PathBuf::from(chrome);
        assert!(
            chrome.is_file(),
            "CHROME={} is not a file",
            chrome.display()
        );
        return Some(chrome);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| {
            ["chromium", "chromium-browser", "google-chrome"].map(|name| dir.join(name))
        })
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

struct Run {
    stdout: String,
    stderr: String,
}

/// Runs Chromium with a fresh profile under `work`, in a process group of
/// its own, and kills it (the whole group, and anything else carrying this
/// run's marker) once it exits or after [`TIMEOUT`].
fn chromium(browser: &Path, work: &Path, args: &[String]) -> Run {
    let profile = tempfile::tempdir_in(work).expect("profile dir");
    let out_path = profile.path().join("stdout");
    let err_path = profile.path().join("stderr");
    let marker = format!("{}-{}", std::process::id(), profile.path().display());
    adopt_orphans();
    let mut child = Command::new(browser)
        .args(FLAGS)
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("p").display()
        ))
        .args(args)
        .env("NETSPLIT_BROWSER_TEST", &marker)
        .env("XDG_CONFIG_HOME", profile.path())
        .env("XDG_CACHE_HOME", profile.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let group = Pid::from_raw(child.id() as i32);
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        match child.try_wait().expect("waits for chromium") {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => break None,
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let _ = killpg(group, Signal::SIGKILL);
    if status.is_none() {
        let _ = child.wait();
    }
    reap(group, &marker);
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    let run = Run {
        stdout: read(&out_path),
        stderr: read(&err_path),
    };
    match status {
        None => panic!(
            "chromium did not finish within {TIMEOUT:?}; killed it. stderr:\n{}",
            run.stderr
        ),
        Some(s) if !s.success() => panic!("chromium failed ({s}); stderr:\n{}", run.stderr),
        Some(_) => run,
    }
}

/// Makes this process the reaper of Chromium's helpers once their parent
/// exits, so that none is left behind as a zombie of init.
fn adopt_orphans() {
    #[cfg(target_os = "linux")]
    nix::sys::prctl::set_child_subreaper(true).expect("becomes a child subreaper");
}

/// Kills what is left of a Chromium run and waits until it is gone.
fn reap(group: Pid, marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let _ = killpg(group, Signal::SIGKILL);
        let marked = marked_processes(marker);
        for &pid in &marked {
            let _ = kill(pid, Signal::SIGKILL);
        }
        // Reap the group's members that came to us when their parent died.
        let mut group_gone = false;
        loop {
            match waitpid(Pid::from_raw(-group.as_raw()), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => break,
                Ok(_) => continue,
                Err(_) => {
                    group_gone = true;
                    break;
                }
            }
        }
        for &pid in &marked {
            let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
        }
        if group_gone && marked.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "chromium processes {marked:?} outlive the test"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Live processes whose environment holds this run's marker.
fn marked_processes(marker: &str) -> Vec<Pid> {
    let needle = format!("NETSPLIT_BROWSER_TEST={marker}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let env = std::fs::read(e.path().join("environ")).ok()?;
            env.split(|b| *b == 0)
                .any(|v| v == needle.as_bytes())
                .then(|| Pid::from_raw(pid))
        })
        .collect()
}
