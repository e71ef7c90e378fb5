//! The registrar: registers and unregisters names, one request at a time,
//! under `:global`'s cluster lock (OTP's `the_registrar`).

use super::locks::{del_on_nodes, lock_known};
use super::RESERVED_RESOURCE;
use super::{call_timeout, shared, whereis_name, LockId, Rep, Req, Resolve, NAME_SERVER};
use crate::gen_server::{self, CallResponse, Caller, GenServer};
use crate::pid::Pid;
use crate::process::Ctx;
use serde::{Deserialize, Serialize};

/// Requests to the registrar; the reply is whether the change was made.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum RegReq {
    /// `force`: take the name even if it is taken (`re_register_name`).
    Register {
        name: String,
        pid: Pid,
        resolve: Resolve,
        force: bool,
    },
    Unregister {
        name: String,
    },
}

pub(crate) struct Registrar;

impl GenServer for Registrar {
    type Call = RegReq;
    type Reply = bool;
    type Cast = ();
    type Info = ();

    async fn handle_call(&mut self, req: RegReq, _: Caller<bool>, ctx: &Ctx) -> CallResponse<bool> {
        let node = ctx.node();
        let me = ctx.pid();
        // Locked on the boss and on every known node: no other registration in
        // this partition, and no partition merge, can run until we release.
        let nodes = lock_known(node, me).await;
        let t = call_timeout(node);
        let done = match req {
            RegReq::Register {
                name,
                pid,
                resolve,
                force,
            } => {
                let free = force
                    || (whereis_name(node, &name).is_none()
                        && !shared(node).names.read().has_name(&pid));
                if free {
                    let req = Req::Register {
                        name,
                        pid,
                        resolve,
                        by: me.clone(),
                    };
                    gen_server::multi_call_noconnect::<Req, Rep>(
                        node,
                        &nodes,
                        NAME_SERVER,
                        &req,
                        t,
                    )
                    .await;
                }
                free
            }
            RegReq::Unregister { name } => {
                let req = Req::Unregister {
                    name,
                    by: me.clone(),
                };
                gen_server::multi_call_noconnect::<Req, Rep>(node, &nodes, NAME_SERVER, &req, t)
                    .await;
                true
            }
        };
        del_on_nodes(node, &LockId::new(RESERVED_RESOURCE, me), &nodes).await;
        CallResponse::Reply(done)
    }
}
