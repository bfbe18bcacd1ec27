//! fan-health: predictive maintenance of a fan with two trained ONNX models
//! run by tract inside the module.
//!
//! For each reading (see [`reading`] for the JSON it accepts) it sends:
//!
//! - on `output1`, always: `{"device", "abnormal_probability", "rul_hours",
//!   "abnormal"}` with `MessageType=Prediction`;
//! - on `alerts`, when `abnormal_probability > alert_threshold`: the same body
//!   with `MessageType=Alert`;
//! - on `orders`, when `rul_hours < order_below_rul_hours`: `{"part", "device",
//!   "predicted_rul_hours", "quantity"}` with `MessageType=purchase-order`, once
//!   per device: the device is marked in the module's storage, and a later
//!   prediction at or above the limit (the fan was replaced) clears the mark.
//!
//! `device` is the body's `device` field (for a window-stats window, its
//! `key`), else the device the message came from, else `null`. A window from
//! window-stats (sensor → window-stats → fan-health) is predicted on the
//! `avg` of each feature; see [`reading`]. Direct method `predict` takes a
//! reading and answers the prediction, with nothing sent and no order marked.
//!
//! Config: `alert_threshold` (0 to 1, default 0.5), `order_below_rul_hours`
//! (default 24), `part` (default `fan-bearing-kit`).
//!
//! The models (`ml/models/*.onnx`, from `cargo xtask train`) are embedded in
//! the component with `include_bytes!`, and parsed and optimized once in
//! `init`. A new model is rolled out as a new version of this module, which
//! the gateway hot-swaps: the model and the code that reads its outputs always
//! travel together, and the artifact's signature covers both.
//!
//! # Layout
//! - [`reading`]: the input JSON, checked into the models' features.
//! - [`model`]: loading and running the models with tract.

pub mod model;
pub mod reading;

use ganglion_sdk::{Config, Message, MethodError, Module, export_module, log, send, storage};
use model::{Models, Prediction};
use reading::Reading;
use serde::Serialize;

/// The output of every prediction.
const PREDICTIONS: &str = "output1";
/// The output of alerts.
const ALERTS: &str = "alerts";
/// The output of purchase orders.
const ORDERS: &str = "orders";
/// The storage key prefix that marks a device with an open order.
const ORDERED: &str = "ordered/";

/// A prediction as sent on `output1` and `alerts`.
#[derive(Serialize)]
struct PredictionBody<'a> {
    device: Option<&'a str>,
    #[serde(flatten)]
    prediction: Prediction,
    abnormal: bool,
}

/// A purchase order as sent on `orders`.
#[derive(Serialize)]
struct OrderBody<'a> {
    part: &'a str,
    device: Option<&'a str>,
    predicted_rul_hours: f32,
    quantity: u32,
}

struct FanHealth {
    models: Models,
    /// Alert when the abnormal probability is above this.
    alert_threshold: f32,
    /// Order a part when the predicted RUL is below this, in hours.
    order_below_rul_hours: f32,
    /// The part to order.
    part: String,
}

impl Module for FanHealth {
    fn init(config: Config) -> Result<Self, String> {
        let alert_threshold: f32 = config.parse_or("alert_threshold", 0.5)?;
        if !(0.0..=1.0).contains(&alert_threshold) {
            return Err(format!(
                "config key `alert_threshold`: {alert_threshold} is not between 0 and 1"
            ));
        }
        let order_below_rul_hours: f32 = config.parse_or("order_below_rul_hours", 24.0)?;
        if !order_below_rul_hours.is_finite() {
            return Err(format!(
                "config key `order_below_rul_hours`: {order_below_rul_hours} is not a number of hours"
            ));
        }
        let part = config.get("part").unwrap_or("fan-bearing-kit").to_string();
        Ok(FanHealth {
            models: Models::load()?,
            alert_threshold,
            order_below_rul_hours,
            part,
        })
    }

    fn on_message(&mut self, _input: &str, msg: Message) -> Result<(), String> {
        let reading = Reading::from_body(msg.body())?;
        let device = reading
            .device
            .as_deref()
            .or(msg.source_device())
            .map(str::to_string);
        let prediction = self.models.predict(&reading.features)?;
        let body = PredictionBody {
            device: device.as_deref(),
            prediction,
            abnormal: prediction.abnormal_probability > self.alert_threshold,
        };
        let mut out = json(&body)?.with_property("MessageType", "Prediction");
        if let Some(id) = msg.message_id() {
            out = out.with_correlation_id(id);
        }
        send(PREDICTIONS, &out).map_err(|e| format!("cannot send on `{PREDICTIONS}`: {e}"))?;
        if body.abnormal {
            let alert = out.with_property("MessageType", "Alert");
            send(ALERTS, &alert).map_err(|e| format!("cannot send on `{ALERTS}`: {e}"))?;
        }
        self.order_if_due(device.as_deref(), prediction.rul_hours)
    }

    fn on_method(
        &mut self,
        name: &str,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, MethodError> {
        if name != "predict" {
            return Err(MethodError::new(404, format!("no method `{name}`")));
        }
        let reading = Reading::from_value(&payload).map_err(MethodError::bad_request)?;
        let prediction = self
            .models
            .predict(&reading.features)
            .map_err(|e| MethodError::new(500, e))?;
        serde_json::to_value(PredictionBody {
            device: reading.device.as_deref(),
            prediction,
            abnormal: prediction.abnormal_probability > self.alert_threshold,
        })
        .map_err(|e| MethodError::new(500, e.to_string()))
    }
}

impl FanHealth {
    /// Sends a purchase order for `device` when `rul_hours` is below the limit
    /// and none is open for it; clears the open order when it is not.
    fn order_if_due(&self, device: Option<&str>, rul_hours: f32) -> Result<(), String> {
        let key = format!("{ORDERED}{}", device.unwrap_or("-"));
        // Storage trouble must not cost a part: without the mark, order again.
        let ordered = storage::get(&key).unwrap_or_else(|e| {
            log::warn(&format!(
                "cannot read `{key}`: {e}; ordering as if none were open"
            ));
            None
        });
        if rul_hours >= self.order_below_rul_hours {
            if ordered.is_some()
                && let Err(e) = storage::delete(&key)
            {
                log::warn(&format!("cannot clear `{key}`: {e}"));
            }
            return Ok(());
        }
        if ordered.is_some() {
            return Ok(());
        }
        let order = json(&OrderBody {
            part: &self.part,
            device,
            predicted_rul_hours: rul_hours,
            quantity: 1,
        })?
        .with_property("MessageType", "purchase-order");
        send(ORDERS, &order).map_err(|e| format!("cannot send on `{ORDERS}`: {e}"))?;
        if let Err(e) = storage::set(&key, &rul_hours.to_le_bytes()) {
            log::warn(&format!("cannot mark `{key}`: {e}; the order may repeat"));
        }
        log::info(&format!(
            "ordered `{}` for {}: predicted RUL {rul_hours:.1} h",
            self.part,
            device.unwrap_or("an unnamed device")
        ));
        Ok(())
    }
}

fn json<T: Serialize>(value: &T) -> Result<Message, String> {
    Message::json(value).map_err(|e| format!("cannot encode the output: {e}"))
}

export_module!(FanHealth);
