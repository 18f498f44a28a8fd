//! Where a step's time goes in its convolutions (`pix2pix bench --profile`): while [`profile`]
//! runs, the Flex kernels time each call of a convolution and of its gradients; the other
//! backends record nothing.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::Serialize;

/// The calls of one kind of convolution call on one layer shape, and their time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConvolutionTime {
    /// "forward", "input gradient" or "weight gradient".
    pub call: &'static str,
    /// The layer as the network has it, e.g. "conv 4x4/2 256->512 at 16x16, batch 8".
    pub layer: String,
    /// How it was computed: the algorithm and the products' arithmetic.
    pub method: String,
    pub calls: usize,
    pub millis: f64,
}

static RECORDING: AtomicBool = AtomicBool::new(false);
static TIMES: Mutex<Vec<ConvolutionTime>> = Mutex::new(Vec::new());
/// One profile at a time: the times are process-wide.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `f` with the convolutions timed: its result and their times, longest first.
pub fn profile<T>(f: impl FnOnce() -> T) -> (T, Vec<ConvolutionTime>) {
    let _only = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    times().clear();
    RECORDING.store(true, Ordering::SeqCst);
    // Stops recording even if `f` unwinds.
    struct Stop;
    impl Drop for Stop {
        fn drop(&mut self) {
            RECORDING.store(false, Ordering::SeqCst);
        }
    }
    let result = {
        let _stop = Stop;
        f()
    };
    let mut recorded = std::mem::take(&mut *times());
    recorded.sort_by(|a, b| b.millis.total_cmp(&a.millis));
    (result, recorded)
}

fn times() -> std::sync::MutexGuard<'static, Vec<ConvolutionTime>> {
    TIMES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs one convolution call `f`, timed under the description `describe` gives (call, layer,
/// method) while a [`profile`] runs.
#[cfg_attr(not(feature = "flex"), allow(dead_code))]
pub(crate) fn timed<T>(
    describe: impl FnOnce() -> (&'static str, String, String),
    f: impl FnOnce() -> T,
) -> T {
    if !RECORDING.load(Ordering::Relaxed) {
        return f();
    }
    let start = Instant::now();
    let result = f();
    let millis = start.elapsed().as_secs_f64() * 1e3;
    let (call, layer, method) = describe();
    let mut times = times();
    match times
        .iter_mut()
        .find(|t| t.call == call && t.layer == layer && t.method == method)
    {
        Some(time) => {
            time.calls += 1;
            time.millis += millis;
        }
        None => times.push(ConvolutionTime {
            call,
            layer,
            method,
            calls: 1,
            millis,
        }),
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only this test's own method counts: convolution tests running beside it may record too.
    #[test]
    fn profiles_sum_the_calls_of_each_kind_and_only_inside() {
        const METHOD: &str = "the profile test's";
        let describe = |layer: &str| {
            let layer = layer.to_string();
            move || ("forward", layer, METHOD.to_string())
        };
        let own = |times: Vec<ConvolutionTime>| -> Vec<ConvolutionTime> {
            times.into_iter().filter(|t| t.method == METHOD).collect()
        };
        timed(describe("outside"), || ());
        let (value, times) = profile(|| {
            for _ in 0..3 {
                timed(describe("a"), || {
                    std::thread::sleep(std::time::Duration::from_millis(2))
                });
            }
            timed(describe("b"), || 7)
        });
        let times = own(times);
        assert_eq!(value, 7);
        assert_eq!(times.len(), 2);
        assert_eq!((times[0].layer.as_str(), times[0].calls), ("a", 3));
        assert!(times[0].millis >= 6.0 && times[1].calls == 1);
        timed(describe("after"), || ());
        assert!(own(profile(|| ()).1).is_empty());
    }
}
