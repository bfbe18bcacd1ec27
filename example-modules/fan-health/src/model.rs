//! The two ONNX models from `ml/models/`, embedded in the component and run
//! with tract: [`Models::load`] parses and optimizes them once (in `init`), and
//! [`Models::predict`] runs both on one [`Features`] row.

use crate::reading::Features;
use serde::Serialize;
use std::sync::Arc;
use tract_onnx::prelude::{
    DatumExt, Framework, InferenceModelExt, IntoRunnable, Tensor, TypedRunnableModel, tvec,
};

/// The classifier: input `X` [N, 4], output `probabilities`
/// [N, 2], column 1 is P(abnormal). Written by `ml/train.py`.
const ABNORMAL_ONNX: &[u8] = include_bytes!("../../../ml/models/fan_abnormal.onnx");
/// The regression: input `X` [N, 4], output `variable` [N, 1], the remaining
/// useful life in hours. Written by `ml/train.py`.
const RUL_ONNX: &[u8] = include_bytes!("../../../ml/models/fan_rul.onnx");

/// The outputs of the two models for one reading.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prediction {
    /// The probability that the fan is abnormal (worn out or faulty), 0 to 1.
    pub abnormal_probability: f32,
    /// The predicted remaining useful life, in hours. The model was trained
    /// on a target capped at 250 h, so about 250 means "250 h or more"; it can
    /// go slightly below 0 for a fan that is past its predicted end of life.
    pub rul_hours: f32,
}

/// The optimized, runnable models.
pub struct Models {
    abnormal: Arc<TypedRunnableModel>,
    rul: Arc<TypedRunnableModel>,
}

impl Models {
    /// Parses both embedded models for a batch of one reading, keeps only the
    /// outputs the module reads, and optimizes them.
    pub fn load() -> Result<Models, String> {
        Ok(Models {
            abnormal: load_one("fan_abnormal.onnx", ABNORMAL_ONNX, "probabilities")?,
            rul: load_one("fan_rul.onnx", RUL_ONNX, "variable")?,
        })
    }

    /// Runs both models on `features`.
    pub fn predict(&self, features: &Features) -> Result<Prediction, String> {
        let row = features.as_row();
        let probabilities = run("fan_abnormal.onnx", &self.abnormal, &row)?;
        let rul = run("fan_rul.onnx", &self.rul, &row)?;
        match (probabilities.as_slice(), rul.as_slice()) {
            ([_, abnormal_probability], [rul_hours]) => Ok(Prediction {
                abnormal_probability: *abnormal_probability,
                rul_hours: *rul_hours,
            }),
            _ => Err(format!(
                "the models returned {} probabilities and {} RUL values; expected 2 and 1",
                probabilities.len(),
                rul.len()
            )),
        }
    }
}

fn load_one(name: &str, bytes: &[u8], output: &str) -> Result<Arc<TypedRunnableModel>, String> {
    let fail = |step: &str, e: tract_onnx::prelude::TractError| {
        format!("model {name}: {step} failed: {e:#}")
    };
    tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .map_err(|e| fail("parsing", e))?
        .with_input_fact(0, f32::fact([1, Features::COUNT]).into())
        .map_err(|e| fail("setting the input shape", e))?
        .with_outputs_by_name([output])
        .map_err(|e| fail(&format!("selecting output `{output}`"), e))?
        .into_optimized()
        .map_err(|e| fail("optimizing", e))?
        .into_runnable()
        .map_err(|e| fail("planning", e))
}

fn run(
    name: &str,
    model: &Arc<TypedRunnableModel>,
    row: &[f32; Features::COUNT],
) -> Result<Vec<f32>, String> {
    let fail = |e: tract_onnx::prelude::TractError| format!("model {name}: {e:#}");
    let input = Tensor::from_shape(&[1, Features::COUNT], row).map_err(fail)?;
    let outputs = model.run(tvec!(input.into())).map_err(fail)?;
    let first = outputs
        .first()
        .ok_or_else(|| format!("model {name}: no output"))?;
    let view = first.to_plain_array_view::<f32>().map_err(fail)?;
    Ok(view.iter().copied().collect())
}
