//! Monitors, links, exit signals and call plumbing, local and remote.
//!
//! The rule that keeps this correct: a relation is recorded on *both* ends, and
//! for a remote end also in the connection's book ([`ConnBook`]), so that when a
//! connection dies every monitor through it fires `Down(NoConnection)` and every
//! link through it delivers an exit signal `NoConnection` — exactly once.

use super::{Entry, ExitKind, Node, SlotEvent};
use crate::dist::{ConnBook, DistMsg};
use crate::exit::ExitReason;
use crate::message::Payload;
use crate::pid::{Pid, Ref};
use crate::process::{Down, Exit, ProcShared, ReplyBody, ReplyTo, Signal, Target};
use crate::Dest;
use parking_lot::Mutex;
use std::sync::Arc;

impl Node {
    // ---------------------------------------------------------------- monitors

    /// Sets a monitor from local process `watcher` on `dest`; returns its reference.
    /// With `connect` false a remote target's node is never connected to: if it
    /// is not connected already, `Down(NoConnection)` comes at once.
    pub(crate) fn monitor(&self, watcher: &Arc<ProcShared>, dest: Dest, connect: bool) -> Ref {
        let mref = self.make_ref();
        let (target, remote) = match dest {
            Dest::Pid(p) => {
                let remote = p.node != self.inner.name;
                (Target::Pid(p), remote)
            }
            Dest::Name(n) => (Target::Name(n, self.inner.name.clone()), false),
            Dest::Remote(n, node) => {
                let remote = node != self.inner.name;
                (Target::Name(n, node), remote)
            }
        };
        let resolved = if remote { None } else { self.resolve(&target) };
        // The watcher's side first: a Down that fires at once (NoProc, or the
        // target exiting right away) must find the monitor it belongs to.
        watcher.state.lock().rel().monitoring.insert(
            mref.clone(),
            (target.clone(), resolved.as_ref().map(|t| t.pid.id)),
        );
        if !remote {
            self.accept_monitor(resolved, &watcher.pid, &mref, None);
            return mref;
        }
        let node = match &target {
            Target::Pid(p) => p.node.clone(),
            Target::Name(_, n) => n.clone(),
        };
        let w = watcher.pid.clone();
        let r = mref.clone();
        let msg = DistMsg::Monitor {
            watcher: watcher.pid.clone(),
            target,
            mref: mref.clone(),
        };
        let book_fn = move |book: &mut ConnBook| {
            book.out_monitors.insert(r, w);
        };
        self.inner
            .dist
            .send_inner(self, &node, msg, book_fn, connect);
        mref
    }

    /// Removes a monitor held by `watcher`. Returns true if it was still active.
    /// Any `Down` for it already in the mailbox is removed too (demonitor + flush).
    pub(crate) fn demonitor(&self, watcher: &Arc<ProcShared>, mref: &Ref) -> bool {
        let entry = watcher.state.lock().rel().monitoring.remove(mref);
        watcher
            .mailbox
            .retain(|s| !matches!(s, Signal::Down(d) if &d.mref == mref));
        match entry {
            Some((target, local_id)) => {
                self.drop_monitor_at_target(mref, &target, local_id);
                true
            }
            None => false,
        }
    }

    /// Tells the monitored side to forget a monitor (the watcher is gone or demonitored).
    pub(crate) fn drop_monitor_at_target(
        &self,
        mref: &Ref,
        target: &Target,
        local_id: Option<u64>,
    ) {
        if let Some(id) = local_id {
            if let Some(t) = self.local_proc_by_id(id) {
                t.state.lock().rel().monitored_by.remove(mref);
            }
            return;
        }
        let node = match target {
            Target::Pid(p) => &p.node,
            Target::Name(_, n) => n,
        };
        if *node == self.inner.name {
            return;
        }
        let r = mref.clone();
        self.inner.dist.send_if_connected(
            self,
            node,
            DistMsg::Demonitor { mref: mref.clone() },
            move |book| {
                book.out_monitors.remove(&r);
            },
        );
    }

    /// A monitored local process ended: tell its watcher (local or remote).
    pub(crate) fn send_down(&self, watcher: &Pid, mref: Ref, reason: ExitReason) {
        if watcher.node == self.inner.name {
            self.deliver_down_local(watcher, &mref, reason);
        } else {
            let r = mref.clone();
            let node = watcher.node.clone();
            self.inner.dist.send_if_connected(
                self,
                &node,
                DistMsg::Down {
                    watcher: watcher.clone(),
                    mref,
                    reason,
                },
                move |book| {
                    book.in_monitors.remove(&r);
                },
            );
        }
    }

    /// Delivers a `Down` to a local watcher, if it still holds the monitor.
    pub(crate) fn deliver_down_local(&self, watcher: &Pid, mref: &Ref, reason: ExitReason) {
        if watcher.creation != self.inner.creation {
            return;
        }
        match self.inner.procs.get(watcher.id) {
            Some(Entry::Proc(p)) => {
                let target = p
                    .state
                    .lock()
                    .relations
                    .as_mut()
                    .and_then(|r| r.monitoring.remove(mref));
                if let Some((target, _)) = target {
                    p.mailbox.push(Signal::Down(Down {
                        mref: mref.clone(),
                        target,
                        reason,
                    }));
                }
            }
            Some(Entry::Slot(s)) => s.fire(SlotEvent::Down(reason)),
            None => {}
        }
    }

    // ---------------------------------------------------------------- links

    /// Links local process `me` with `other` (local or remote).
    pub(crate) fn link(&self, me: &Arc<ProcShared>, other: Pid) {
        if other == me.pid {
            return;
        }
        if other.node == self.inner.name {
            let linked = self.local_proc(&other).is_some_and(|o| {
                o.relate_if_alive(|r| {
                    r.links.insert(me.pid.clone());
                })
            });
            if linked {
                me.state.lock().rel().links.insert(other);
            } else {
                self.deliver_exit_local(&me.pid, other, ExitReason::NoProc, ExitKind::LinkFailed);
            }
            return;
        }
        me.state.lock().rel().links.insert(other.clone());
        let key = (me.pid.id, other.clone());
        let node = other.node.clone();
        self.inner.dist.send(
            self,
            &node,
            DistMsg::Link {
                from: me.pid.clone(),
                to: other,
            },
            move |book| {
                book.links.insert(key);
            },
        );
    }

    /// Removes a link between local `me` and `other`.
    pub(crate) fn unlink(&self, me: &Arc<ProcShared>, other: &Pid) {
        me.state.lock().rel().links.remove(other);
        if other.node == self.inner.name {
            if let Some(o) = self.local_proc(other) {
                o.state.lock().rel().links.remove(&me.pid);
            }
            return;
        }
        let key = (me.pid.id, other.clone());
        self.inner.dist.send_if_connected(
            self,
            &other.node,
            DistMsg::Unlink {
                from: me.pid.clone(),
                to: other.clone(),
            },
            move |book| {
                book.links.remove(&key);
            },
        );
    }

    /// Sends an exit signal from `from` to `to`, wherever `to` lives.
    pub(crate) fn exit_signal(&self, from: Pid, to: &Pid, reason: ExitReason, kind: ExitKind) {
        if to.node == self.inner.name {
            self.deliver_exit_local(to, from, reason, kind);
            return;
        }
        let key = (from.id, to.clone());
        self.inner.dist.send_if_connected(
            self,
            &to.node.clone(),
            DistMsg::Exit {
                from,
                to: to.clone(),
                reason,
                kind,
            },
            move |book| {
                if kind == ExitKind::Link {
                    book.links.remove(&key);
                }
            },
        );
    }

    /// Applies an exit signal to a local process, following Erlang's rules.
    pub(crate) fn deliver_exit_local(
        &self,
        to: &Pid,
        from: Pid,
        reason: ExitReason,
        kind: ExitKind,
    ) {
        let Some(p) = self.local_proc(to) else { return };
        {
            let mut st = p.state.lock();
            if !st.alive {
                return;
            }
            if kind == ExitKind::Link && !st.rel().links.remove(&from) {
                return; // unlinked in the meantime: the signal no longer applies
            }
        }
        if kind == ExitKind::Exit2 && reason == ExitReason::Kill {
            p.kill(ExitReason::Killed);
        } else if p.traps_exits() {
            p.mailbox.push(Signal::Exit(Exit { from, reason }));
        } else if reason == ExitReason::Normal {
            if kind == ExitKind::Exit2 && from == p.pid {
                p.kill(ExitReason::Normal);
            }
        } else {
            p.kill(reason);
        }
    }

    // ---------------------------------------------------------------- calls

    /// Sends a call from reply slot `slot` to `dest`, monitoring the server for the
    /// duration of the call (so its death or its node's loss ends the call at once).
    /// With `connect` false a remote call never opens a connection: to a node
    /// not connected it ends at once with `Down(NoConnection)`. Returns the id
    /// of the local server that took the call, if it was local.
    pub(crate) fn start_call(
        &self,
        slot: &Pid,
        dest: Dest,
        payload: Payload,
        connect: bool,
    ) -> Option<u64> {
        let mref = Node::slot_ref(slot);
        let (node, msg) = match dest {
            Dest::Pid(p) if p.node == self.inner.name => {
                return self.accept_call(&Target::Pid(p), slot, payload, None);
            }
            Dest::Name(n) => {
                let here = self.inner.name.clone();
                return self.accept_call(&Target::Name(n, here), slot, payload, None);
            }
            Dest::Remote(n, node) if node == self.inner.name => {
                return self.accept_call(&Target::Name(n, node), slot, payload, None);
            }
            Dest::Pid(p) => {
                let node = p.node.clone();
                let reply_to = slot.clone();
                (
                    node,
                    DistMsg::Call {
                        to: p,
                        reply_to,
                        payload,
                    },
                )
            }
            Dest::Remote(to, node) => {
                let reply_to = slot.clone();
                (
                    node,
                    DistMsg::RegCall {
                        to,
                        reply_to,
                        payload,
                    },
                )
            }
        };
        let s = slot.clone();
        let book_fn = move |book: &mut ConnBook| {
            book.out_monitors.insert(mref, s);
        };
        self.inner
            .dist
            .send_inner(self, &node, msg, book_fn, connect);
        None
    }

    /// The live local process a monitor or call target names, if any.
    fn resolve(&self, target: &Target) -> Option<Arc<ProcShared>> {
        match target {
            Target::Pid(p) => self.local_proc(p),
            Target::Name(n, _) => self.whereis(n).and_then(|p| self.local_proc(&p)),
        }
    }

    /// Puts `watcher`'s monitor `mref` on the local process `resolved`, or answers
    /// `Down(NoProc)`. For a remote watcher the monitor is entered in its
    /// connection's `book` before the target holds it, so whatever fires or ends
    /// the monitor (exit, reply, demonitor) always finds the entry to remove.
    /// Returns the target when the monitor is in place.
    fn accept_monitor(
        &self,
        resolved: Option<Arc<ProcShared>>,
        watcher: &Pid,
        mref: &Ref,
        book: Option<&Mutex<ConnBook>>,
    ) -> Option<Arc<ProcShared>> {
        if let (Some(t), Some(b)) = (&resolved, book) {
            b.lock().in_monitors.insert(mref.clone(), t.pid.id);
        }
        let accepted = resolved.filter(|t| {
            t.relate_if_alive(|r| {
                r.monitored_by.insert(mref.clone(), watcher.clone());
            })
        });
        if accepted.is_none() {
            if let Some(b) = book {
                b.lock().in_monitors.remove(mref);
            }
            self.send_down(watcher, mref.clone(), ExitReason::NoProc);
        }
        accepted
    }

    /// Delivers a call to a local server, monitored for the call's duration
    /// (`book`: the caller's connection when it is remote), or answers `NoProc`.
    fn accept_call(
        &self,
        target: &Target,
        slot: &Pid,
        payload: Payload,
        book: Option<&Mutex<ConnBook>>,
    ) -> Option<u64> {
        let mref = Node::slot_ref(slot);
        let s = self.accept_monitor(self.resolve(target), slot, &mref, book)?;
        let reply_to = ReplyTo {
            slot: slot.clone(),
            server: s.pid.clone(),
        };
        s.mailbox.push(Signal::Call(reply_to, payload));
        Some(s.pid.id)
    }

    /// Removes the monitor a local call that timed out left on its server
    /// (`server`, as `start_call` returned it): a server that never answers
    /// would otherwise keep one per call.
    pub(crate) fn forget_local_call_monitor(&self, slot: &Pid, server: Option<u64>) {
        if let Some(s) = server.and_then(|id| self.local_proc_by_id(id)) {
            if let Some(r) = s.state.lock().relations.as_mut() {
                r.monitored_by.remove(&Node::slot_ref(slot));
            }
        }
    }

    /// Sends a call's reply and ends the server's monitor for that call.
    pub(crate) fn send_reply(&self, to: &ReplyTo, body: ReplyBody) {
        let mref = Node::slot_ref(&to.slot);
        if let Some(s) = self.local_proc(&to.server) {
            if let Some(r) = s.state.lock().relations.as_mut() {
                r.monitored_by.remove(&mref);
            }
        }
        if to.slot.node == self.inner.name {
            self.deliver_local(&to.slot, Signal::Reply(to.slot.clone(), body));
        } else {
            self.inner.dist.send_if_connected(
                self,
                &to.slot.node.clone(),
                DistMsg::Reply {
                    to: to.slot.clone(),
                    body,
                },
                move |book| {
                    book.in_monitors.remove(&mref);
                },
            );
        }
    }

    // ---------------------------------------------------------------- incoming frames

    /// Acts on a frame received from a connected peer. `book` is that connection's book.
    pub(crate) fn handle_dist(&self, msg: DistMsg, book: &Mutex<ConnBook>) {
        match msg {
            DistMsg::Tick | DistMsg::Peers(_) => {}
            DistMsg::Send { to, from, payload } => {
                if to.node == self.inner.name {
                    self.deliver_local(&to, Signal::Message { from, payload });
                }
            }
            DistMsg::RegSend { to, from, payload } => {
                self.deliver_local_by_name(&to, Signal::Message { from, payload });
            }
            DistMsg::Cast { to, payload } => {
                if to.node == self.inner.name {
                    self.deliver_local(&to, Signal::Cast(payload));
                }
            }
            DistMsg::RegCast { to, payload } => {
                self.deliver_local_by_name(&to, Signal::Cast(payload));
            }
            DistMsg::Call {
                to,
                reply_to,
                payload,
            } => {
                self.accept_call(&Target::Pid(to), &reply_to, payload, Some(book));
            }
            DistMsg::RegCall {
                to,
                reply_to,
                payload,
            } => {
                let here = self.inner.name.clone();
                self.accept_call(&Target::Name(to, here), &reply_to, payload, Some(book));
            }
            DistMsg::Reply { to, body } => {
                book.lock().out_monitors.remove(&Node::slot_ref(&to));
                self.deliver_local(&to, Signal::Reply(to.clone(), body));
            }
            DistMsg::Monitor {
                watcher,
                target,
                mref,
            } => {
                self.accept_monitor(self.resolve(&target), &watcher, &mref, Some(book));
            }
            DistMsg::Demonitor { mref } => {
                let id = book.lock().in_monitors.remove(&mref);
                if let Some(t) = id.and_then(|id| self.local_proc_by_id(id)) {
                    t.state.lock().rel().monitored_by.remove(&mref);
                }
            }
            DistMsg::Down {
                watcher,
                mref,
                reason,
            } => {
                book.lock().out_monitors.remove(&mref);
                self.deliver_down_local(&watcher, &mref, reason);
            }
            DistMsg::Link { from, to } => {
                let linked = self.local_proc(&to).is_some_and(|t| {
                    t.relate_if_alive(|r| {
                        r.links.insert(from.clone());
                    })
                });
                if linked {
                    book.lock().links.insert((to.id, from));
                } else {
                    self.exit_signal(to, &from, ExitReason::NoProc, ExitKind::LinkFailed);
                }
            }
            DistMsg::Unlink { from, to } => {
                book.lock().links.remove(&(to.id, from.clone()));
                if let Some(t) = self.local_proc(&to) {
                    t.state.lock().rel().links.remove(&from);
                }
            }
            DistMsg::Exit {
                from,
                to,
                reason,
                kind,
            } => {
                if kind == ExitKind::Link {
                    book.lock().links.remove(&(to.id, from.clone()));
                }
                self.deliver_exit_local(&to, from, reason, kind);
            }
        }
    }

    /// A connection is gone: fire everything its book recorded.
    pub(crate) fn connection_lost(&self, book: ConnBook) {
        // In (watcher, monitor) order rather than hash order: a watcher's Downs
        // come in the order its monitors were set, and consecutive watchers are
        // neighbours in the process table and in memory, which for thousands of
        // monitors is most of the cost.
        let mut out: Vec<(Ref, Pid)> = book.out_monitors.into_iter().collect();
        out.sort_unstable_by_key(|(mref, watcher)| (watcher.id, mref.id));
        for (mref, watcher) in out {
            self.deliver_down_local(&watcher, &mref, ExitReason::NoConnection);
        }
        let mut inm: Vec<(Ref, u64)> = book.in_monitors.into_iter().collect();
        inm.sort_unstable_by_key(|(_, id)| *id);
        let mut target: Option<Arc<ProcShared>> = None;
        for (mref, id) in inm {
            if target.as_ref().is_none_or(|t| t.pid.id != id) {
                target = self.local_proc_by_id(id);
            }
            if let Some(t) = &target {
                if let Some(r) = t.state.lock().relations.as_mut() {
                    r.monitored_by.remove(&mref);
                }
            }
        }
        for (local_id, remote) in book.links {
            let to = Pid {
                node: self.inner.name.clone(),
                creation: self.inner.creation,
                id: local_id,
            };
            self.deliver_exit_local(&to, remote, ExitReason::NoConnection, ExitKind::Link);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::gen_server::{self, CallError, CallResponse, Caller, Flow, GenServer};
    use crate::Ctx;
    use std::time::Duration;

    /// Takes every call and never answers.
    struct Silent;
    impl GenServer for Silent {
        type Call = ();
        type Reply = ();
        type Cast = ();
        type Info = ();
        async fn handle_call(&mut self, _: (), _: Caller<()>, _: &Ctx) -> CallResponse<()> {
            CallResponse::NoReply
        }
        async fn handle_cast(&mut self, _: (), _: &Ctx) -> Flow {
            Flow::Continue
        }
    }

    #[tokio::test(start_paused = true)]
    async fn local_calls_that_time_out_leave_no_monitor_on_the_server() {
        let net = crate::sim::SimNet::new(1);
        let node = net.start_node("a@sim").await.unwrap();
        let server = gen_server::start(&node, Silent, Some("silent"))
            .await
            .unwrap();
        let t = Duration::from_millis(10);
        for _ in 0..3 {
            let by_name = gen_server::call::<(), ()>(&node, "silent", &(), t).await;
            assert_eq!(by_name, Err(CallError::Timeout));
            let by_pid = gen_server::call::<(), ()>(&node, &server, &(), t).await;
            assert_eq!(by_pid, Err(CallError::Timeout));
        }
        let s = node.local_proc(&server).expect("the server is alive");
        let left = s
            .state
            .lock()
            .relations
            .as_ref()
            .map_or(0, |r| r.monitored_by.len());
        assert_eq!(left, 0, "monitors left on the server by timed-out calls");
    }
}
