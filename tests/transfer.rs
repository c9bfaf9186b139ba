//! BTP Transfers (settlements) between two real links on loopback: accepted,
//! refused the way a stock JS peer refuses, never answered, refused past the
//! bound of unanswered Transfers, and malformed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use ilp_connector::btp::{Frame, SettlementId};
use ilp_connector::link::{
    Direction, Handler, IncomingTransfer, Link, LinkError, MAX_UNANSWERED_TRANSFERS,
    TOO_MANY_TRANSFERS, TRANSFERS_NOT_ACCEPTED, TransferReply,
};
use ilp_connector::transport::{self, ClientStream, FIRST_REQUEST_ID, Refusal};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const CLIENT: &str = "client";
const SECRET: &str = "transfer-secret";
/// What ilp-plugin-btp 1.5 answers a Transfer with (its `_handleMoney`
/// throws; see the BTP notes): code F00, name `Error`, this JSON as data.
const JS_REFUSAL: &str = r#"{"message":"No sendMoney functionality is included in this module"}"#;
/// Long enough never to pass in a test that expects an answer.
const LONG: Duration = Duration::from_secs(30);

/// `f`, or a panic naming `what` after [`LONG`] (a missing answer fails
/// the test instead of hanging it).
async fn soon<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LONG, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {LONG:?}"))
}

#[derive(Debug)]
struct WrongSecret;
impl std::fmt::Display for WrongSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("wrong secret")
    }
}
impl Refusal for WrongSecret {}

/// What the receiving side does with a Transfer.
#[derive(Clone, Copy)]
enum Mode {
    Accept,
    RefuseLikeJs,
    Hold,
}

/// A handler that records each Transfer (amount, settlement id) and
/// answers it as its mode says.
struct Receiver {
    mode: Mode,
    seen: mpsc::UnboundedSender<(u64, Option<SettlementId>)>,
    held: Mutex<Vec<TransferReply>>,
}

impl Receiver {
    fn new(
        mode: Mode,
    ) -> (
        Arc<Receiver>,
        mpsc::UnboundedReceiver<(u64, Option<SettlementId>)>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        let r = Arc::new(Receiver {
            mode,
            seen: tx,
            held: Mutex::new(Vec::new()),
        });
        (r, rx)
    }
}

impl Handler for Receiver {
    fn on_request(self: Arc<Self>, _: &Arc<Link>, _: u32, _: Bytes) {}

    fn on_transfer(self: Arc<Self>, _: &Arc<Link>, t: IncomingTransfer) {
        let id = SettlementId::find(&t.protocol_data).expect("a well-formed settlement id");
        let _ = self.seen.send((t.amount, id));
        match self.mode {
            Mode::Accept => t.reply.accept(),
            Mode::RefuseLikeJs => t.reply.refuse("F00", "Error", JS_REFUSAL),
            Mode::Hold => self.held.lock().unwrap().push(t.reply),
        }
    }
}

/// A handler with the default `on_transfer`.
struct Defaults;
impl Handler for Defaults {
    fn on_request(self: Arc<Self>, _: &Arc<Link>, _: u32, _: Bytes) {}
}

/// A server link (with `handler`) on 127.0.0.1:0 and the client's
/// authenticated WebSocket to it.
async fn server_and_socket(handler: Arc<dyn Handler>) -> (Arc<Link>, ClientStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let (ws, ()) = transport::accept(tcp, Duration::from_secs(5), |user, token| {
            if user == CLIENT && token == SECRET {
                Ok(())
            } else {
                Err(WrongSecret)
            }
        })
        .await
        .unwrap();
        Link::start(
            ws,
            Arc::from(CLIENT),
            Direction::Inbound,
            FIRST_REQUEST_ID,
            handler,
        )
    });
    let ws = transport::connect(&url, CLIENT, SECRET).await.unwrap();
    (server.await.unwrap(), ws)
}

/// Two links: (client, server), the server's Transfers going to `handler`.
async fn pair(handler: Arc<dyn Handler>) -> (Arc<Link>, Arc<Link>) {
    let (server, ws) = server_and_socket(handler).await;
    let client = Link::start(
        ws,
        Arc::from("server"),
        Direction::Outbound,
        FIRST_REQUEST_ID,
        Arc::new(Defaults),
    );
    (client, server)
}

#[tokio::test]
async fn an_accepted_transfer_is_ok_and_carries_its_settlement_id() {
    let (receiver, mut seen) = Receiver::new(Mode::Accept);
    let (client, server) = pair(receiver).await;
    let id = SettlementId::random();
    assert_eq!(client.transfer(500, vec![id.entry()], LONG).await, Ok(()));
    assert_eq!(
        soon("the handler sees the transfer", seen.recv()).await,
        Some((500, Some(id)))
    );
    // A retry carries the same id, so the receiver can tell it.
    assert_eq!(client.transfer(500, vec![id.entry()], LONG).await, Ok(()));
    assert_eq!(
        soon("the handler sees the transfer", seen.recv()).await,
        Some((500, Some(id)))
    );
    assert_eq!(client.pending_requests(), 0);
    assert_eq!(server.unanswered_transfers(), 0);
    client.close();
}

#[tokio::test]
async fn a_refusal_the_js_way_is_a_btp_error_with_its_code() {
    let (receiver, mut seen) = Receiver::new(Mode::RefuseLikeJs);
    let (client, _server) = pair(receiver).await;
    let id = SettlementId::random();
    assert_eq!(
        client.transfer(7, vec![id.entry()], LONG).await,
        Err(LinkError::Btp {
            code: "F00".into(),
            name: "Error".into(),
            message: JS_REFUSAL.into(),
        })
    );
    assert_eq!(
        soon("the handler sees the transfer", seen.recv()).await,
        Some((7, Some(id)))
    );
    client.close();
}

#[tokio::test]
async fn the_default_handler_refuses_transfers() {
    let (client, _server) = pair(Arc::new(Defaults)).await;
    assert_eq!(
        client.transfer(7, Vec::new(), LONG).await,
        Err(LinkError::Btp {
            code: "F00".into(),
            name: "NotAcceptedError".into(),
            message: TRANSFERS_NOT_ACCEPTED.into(),
        })
    );
    client.close();
}

#[tokio::test]
async fn an_unanswered_transfer_times_out_and_a_closed_link_fails_it() {
    let (receiver, mut seen) = Receiver::new(Mode::Hold);
    let (client, server) = pair(receiver.clone()).await;
    let id = SettlementId::random();
    assert_eq!(
        client
            .transfer(9, vec![id.entry()], Duration::from_millis(200))
            .await,
        Err(LinkError::Timeout)
    );
    assert_eq!(
        soon("the handler sees the transfer", seen.recv()).await,
        Some((9, Some(id)))
    );
    assert_eq!(client.pending_requests(), 0);
    assert_eq!(server.unanswered_transfers(), 1);
    // Dropping the reply unused sends nothing and frees its place.
    receiver.held.lock().unwrap().clear();
    assert_eq!(server.unanswered_transfers(), 0);

    let waiting = {
        let client = client.clone();
        tokio::spawn(async move { client.transfer(10, Vec::new(), LONG).await })
    };
    assert_eq!(
        soon("the handler sees the transfer", seen.recv()).await,
        Some((10, None))
    );
    server.close();
    assert_eq!(waiting.await.unwrap(), Err(LinkError::Closed));
}

#[tokio::test]
async fn transfers_past_the_unanswered_bound_are_refused_at_once() {
    let (receiver, mut seen) = Receiver::new(Mode::Hold);
    let (client, server) = pair(receiver.clone()).await;
    let (tx, mut answers) = mpsc::unbounded_channel();
    let deadline = tokio::time::Instant::now() + LONG;
    for amount in 0..=MAX_UNANSWERED_TRANSFERS as u64 {
        let tx = tx.clone();
        client.send_transfer(
            amount + 1,
            Vec::new(),
            deadline,
            Box::new(move |answer, _| {
                let _ = tx.send((amount + 1, answer));
            }),
        );
    }
    // The one past the bound is answered T00 without reaching the handler.
    let (amount, answer) = soon("an answer", answers.recv()).await.unwrap();
    assert_eq!(amount, MAX_UNANSWERED_TRANSFERS as u64 + 1);
    assert_eq!(
        answer,
        Err(LinkError::Btp {
            code: "T00".into(),
            name: "UnreachableError".into(),
            message: TOO_MANY_TRANSFERS.into(),
        })
    );
    for want in 1..=MAX_UNANSWERED_TRANSFERS as u64 {
        assert_eq!(
            soon("the handler sees the transfer", seen.recv()).await,
            Some((want, None))
        );
    }
    assert_eq!(server.unanswered_transfers(), MAX_UNANSWERED_TRANSFERS);
    assert_eq!(client.pending_requests(), MAX_UNANSWERED_TRANSFERS);

    // Answering one makes room for the next.
    let first = receiver.held.lock().unwrap().remove(0);
    first.accept();
    assert_eq!(
        soon("an answer", answers.recv()).await.unwrap(),
        (1, Ok(()))
    );
    assert_eq!(server.unanswered_transfers(), MAX_UNANSWERED_TRANSFERS - 1);
    client.send_transfer(
        100,
        Vec::new(),
        deadline,
        Box::new(move |answer, _| {
            let _ = tx.send((100, answer));
        }),
    );
    assert_eq!(
        soon("the handler sees the transfer", seen.recv()).await,
        Some((100, None))
    );
    assert_eq!(server.unanswered_transfers(), MAX_UNANSWERED_TRANSFERS);
    for reply in receiver.held.lock().unwrap().drain(..) {
        reply.refuse("F00", "NotAcceptedError", "no");
    }
    assert_eq!(server.unanswered_transfers(), 0);
    for _ in 0..MAX_UNANSWERED_TRANSFERS {
        let (_, answer) = soon("an answer", answers.recv()).await.unwrap();
        assert!(
            matches!(&answer, Err(LinkError::Btp { code, .. }) if code == "F00"),
            "{answer:?}"
        );
    }
    client.close();
}

/// The next BTP frame the raw socket reads (skipping pings and pongs).
async fn next_frame(ws: &mut ClientStream) -> Frame {
    loop {
        let msg = tokio::time::timeout(LONG, ws.next())
            .await
            .expect("an answer in time")
            .expect("the link is still open")
            .unwrap();
        if let Message::Binary(b) = msg {
            return Frame::decode(b).unwrap();
        }
    }
}

#[tokio::test]
async fn malformed_transfers_are_answered_with_a_btp_error() {
    let (receiver, mut seen) = Receiver::new(Mode::Accept);
    let (server, mut ws) = server_and_socket(receiver).await;
    let malformed: [(u32, &[u8]); 4] = [
        // Contents of 3 bytes: the UInt64 amount is cut short.
        (9, &[7, 0, 0, 0, 9, 3, 0, 0, 0]),
        // The length prefix claims 32 bytes; 2 follow.
        (10, &[7, 0, 0, 0, 10, 32, 0, 0]),
        // An amount and no protocol data count.
        (11, &[7, 0, 0, 0, 11, 8, 0, 0, 0, 0, 0, 0, 0, 5]),
        // A whole Transfer, then a byte after its contents.
        (12, &[7, 0, 0, 0, 12, 9, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0]),
    ];
    for (request_id, bytes) in malformed {
        ws.send(Message::Binary(Bytes::from_static(bytes)))
            .await
            .unwrap();
        match next_frame(&mut ws).await {
            Frame::Error {
                request_id: id,
                code,
                ..
            } => assert_eq!((id, code.as_str()), (request_id, "F00")),
            other => panic!("{bytes:?} answered with {other:?}"),
        }
    }
    // The link is still up, and a well-formed Transfer is the first the
    // handler sees.
    let id = SettlementId::random();
    ws.send(Message::Binary(Frame::settlement(13, 5, &id).encode()))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut ws).await, Frame::empty_response(13));
    assert_eq!(
        soon("the handler sees the transfer", seen.recv()).await,
        Some((5, Some(id)))
    );
    assert!(!server.is_closed());
    server.close();
}
