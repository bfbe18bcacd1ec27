//! Direct methods: a request from the cloud is checked, handed to the
//! module's supervisor, and answered on the request's response topic with a
//! status, whether the module answered, failed, was missing or too slow.

use crate::protocol::code::{BAD_REQUEST, GATEWAY_TIMEOUT, INTERNAL_ERROR, OK};
use crate::protocol::method::{
    DEFAULT_TIMEOUT_SECS, MAX_PAYLOAD_BYTES, PAYLOAD_TOO_LARGE, STATUS_PROPERTY, TIMEOUT_PROPERTY,
    TIMEOUT_SECS,
};
use crate::runtime::MethodCall;
use crate::supervisor::Control;
use rumqttc::v5::AsyncClient;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Publish, PublishProperties};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Where and how to answer a request.
#[derive(Debug, Clone)]
pub struct ReplyTo {
    /// The response topic.
    pub topic: String,
    /// The request id.
    pub correlation: bytes::Bytes,
}

/// A request that can be answered.
#[derive(Debug)]
pub struct Request {
    /// Where the answer goes.
    pub reply_to: ReplyTo,
    /// The method.
    pub method: String,
    /// The payload, JSON text.
    pub payload: String,
    /// How long the module has.
    pub timeout: Duration,
}

/// An answer: a status and a JSON payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP-like status.
    pub status: u16,
    /// The JSON payload.
    pub payload: String,
}

impl Answer {
    /// A failure with `status` and a `{"message": ...}` payload.
    pub fn error(status: u16, message: &str) -> Answer {
        Answer {
            status,
            payload: serde_json::json!({ "message": message }).to_string(),
        }
    }
}

/// Reads the request's reply address; `None` if it cannot be answered (it is
/// then dropped and logged). Responses go only under `responses_prefix`.
pub fn reply_to(publish: &Publish, responses_prefix: &str) -> Option<ReplyTo> {
    let props = publish.properties.as_ref()?;
    let topic = props.response_topic.clone()?;
    let correlation = props.correlation_data.clone()?;
    let rest = topic.strip_prefix(responses_prefix)?;
    if rest.is_empty() || rest.contains(['+', '#']) {
        return None;
    }
    Some(ReplyTo { topic, correlation })
}

/// Checks a request; `Err` is the answer to send at once.
pub fn check(
    publish: &Publish,
    method: &str,
    reply_to: ReplyTo,
) -> Result<Request, (ReplyTo, Answer)> {
    let refuse = |status, message: String| Err((reply_to.clone(), Answer::error(status, &message)));
    if publish.payload.len() > MAX_PAYLOAD_BYTES {
        return refuse(
            PAYLOAD_TOO_LARGE,
            format!(
                "the payload has {} bytes; the limit is {MAX_PAYLOAD_BYTES}",
                publish.payload.len()
            ),
        );
    }
    let payload = match std::str::from_utf8(&publish.payload) {
        Ok(p) if serde_json::from_str::<serde_json::Value>(p).is_ok() => p.to_string(),
        _ => return refuse(BAD_REQUEST, "the payload is not JSON".to_string()),
    };
    let timeout = match publish.properties.as_ref().and_then(|p| {
        p.user_properties
            .iter()
            .find(|(k, _)| k == TIMEOUT_PROPERTY)
    }) {
        None => Duration::from_secs(DEFAULT_TIMEOUT_SECS),
        Some((_, v)) => match v.parse::<u64>() {
            Ok(secs) if TIMEOUT_SECS.contains(&secs) => Duration::from_secs(secs),
            _ => {
                return refuse(
                    BAD_REQUEST,
                    format!(
                        "{TIMEOUT_PROPERTY} `{v}` is not a whole number from {} to {}",
                        TIMEOUT_SECS.start(),
                        TIMEOUT_SECS.end()
                    ),
                );
            }
        },
    };
    Ok(Request {
        reply_to,
        method: method.to_string(),
        payload,
        timeout,
    })
}

/// What the module's outcome means for the caller.
fn answer(call: MethodCall) -> Answer {
    match call {
        MethodCall::Answered(payload) if payload.len() > MAX_PAYLOAD_BYTES => Answer::error(
            PAYLOAD_TOO_LARGE,
            &format!(
                "the module's answer has {} bytes; the limit is {MAX_PAYLOAD_BYTES}",
                payload.len()
            ),
        ),
        MethodCall::Answered(payload) => Answer {
            status: OK,
            payload,
        },
        MethodCall::Failed { status, message } => Answer::error(status, &message),
        MethodCall::Trap(fault) => {
            Answer::error(INTERNAL_ERROR, &format!("the module failed: {fault}"))
        }
    }
}

/// Hands `request` to the module behind `control` and answers through
/// `client` when it answers or its time is up.
pub fn dispatch(
    request: Request,
    module: &str,
    control: &mpsc::Sender<Control>,
    client: AsyncClient,
) {
    let (reply, outcome) = oneshot::channel();
    let sent = control.try_send(Control::Method {
        name: request.method.clone(),
        payload: request.payload,
        reply,
    });
    let module = module.to_string();
    if sent.is_err() {
        let busy = Answer::error(
            503,
            &format!("module `{module}` has too many calls waiting"),
        );
        tokio::spawn(respond(client, request.reply_to, busy));
        return;
    }
    let timeout = request.timeout;
    let reply_to = request.reply_to;
    tokio::spawn(async move {
        let answer = match tokio::time::timeout(timeout, outcome).await {
            Ok(Ok(call)) => answer(call),
            Ok(Err(_)) => Answer::error(
                INTERNAL_ERROR,
                &format!("module `{module}` stopped before it answered"),
            ),
            Err(_) => Answer::error(
                GATEWAY_TIMEOUT,
                &format!(
                    "module `{module}` did not answer within {} s",
                    timeout.as_secs()
                ),
            ),
        };
        respond(client, reply_to, answer).await;
    });
}

/// Publishes `answer` to the caller.
pub async fn respond(client: AsyncClient, reply_to: ReplyTo, answer: Answer) {
    let properties = PublishProperties {
        correlation_data: Some(reply_to.correlation),
        user_properties: vec![(STATUS_PROPERTY.to_string(), answer.status.to_string())],
        content_type: Some("application/json".to_string()),
        ..Default::default()
    };
    if let Err(e) = client
        .publish_with_properties(
            reply_to.topic,
            QoS::AtMostOnce,
            false,
            answer.payload,
            properties,
        )
        .await
    {
        tracing::warn!("cannot send a method response: {e}");
    }
}
