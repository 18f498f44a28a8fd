//! The module's JavaScript face (wasm-bindgen): `check(optionsJson, weightFileSize)`,
//! `new Translator(optionsJson, weightBytes)` and
//! `translator.translate(rgba, width, height, evalMode, seed)`, whose errors are JavaScript
//! `Error`s carrying [`WebError`]'s message.

use wasm_bindgen::prelude::*;

use crate::{Translator, WebError};

fn to_js(error: WebError) -> JsError {
    JsError::new(&error.to_string())
}

/// Checks a model before its weights are downloaded ([`Translator::check`]); `weight_bytes` is
/// the weight file's size.
#[wasm_bindgen]
pub fn check(options: &str, weight_bytes: f64) -> Result<(), JsError> {
    Translator::check(options, weight_bytes as usize)
        .map(drop)
        .map_err(to_js)
}

#[wasm_bindgen(js_name = Translator)]
pub struct JsTranslator(Translator);

#[wasm_bindgen(js_class = Translator)]
impl JsTranslator {
    #[wasm_bindgen(constructor)]
    pub fn new(options: &str, weights: &[u8]) -> Result<JsTranslator, JsError> {
        Translator::new(options, weights)
            .map(JsTranslator)
            .map_err(to_js)
    }

    /// `seed` is a JavaScript number: a whole number from 0 to 2^53 (the page checks it).
    pub fn translate(
        &self,
        rgba: &[u8],
        width: u32,
        height: u32,
        eval_mode: bool,
        seed: f64,
    ) -> Result<Vec<u8>, JsError> {
        self.0
            .translate(rgba, width, height, eval_mode, seed as u64)
            .map_err(to_js)
    }
}
