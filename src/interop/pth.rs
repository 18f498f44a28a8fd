//! PyTorch checkpoint files: reading any `torch.save`d state_dict with burn-store's reader, and
//! writing one as `torch.save(model.state_dict())` does (a ZIP of a pickle and raw storages), so
//! that PyTorch's `load_state_dict(strict=True)` takes it.

use std::io::{Cursor, Write};
use std::path::Path;

use burn::store::pytorch_reader::{DType, PytorchError, PytorchReader};
use burn::tensor::{DType as BurnDType, TensorData};
use zip::write::SimpleFileOptions;

use super::StateDict;
use crate::error::{Error, Result};

/// Reads every tensor of a state_dict; floats become f32, integers i64.
pub fn read_pth(path: &Path) -> Result<StateDict> {
    let not_a_checkpoint = |reason: String| Error::CorruptCheckpoint {
        path: path.to_path_buf(),
        reason: format!("{reason} (expected a PyTorch state_dict saved with torch.save)"),
    };
    match PytorchReader::new(path) {
        Ok(reader) => read_tensors(reader).map_err(not_a_checkpoint),
        // The zip crate (9.8) misplaces the central directory of some valid archives that
        // PyTorch writes (seen with a 21-character file stem, which torch.save uses as the
        // archive's root folder). Such a file is read again with the archive offset fixed at 0
        // and repacked into a temporary file.
        Err(PytorchError::Zip(error)) => {
            let repacked = repack(path).map_err(|_| not_a_checkpoint(error.to_string()))?;
            let reader = PytorchReader::new(repacked.path())
                .map_err(|_| not_a_checkpoint(error.to_string()))?;
            read_tensors(reader).map_err(not_a_checkpoint)
        }
        Err(error) => Err(not_a_checkpoint(error.to_string())),
    }
}

fn read_tensors(reader: PytorchReader) -> std::result::Result<StateDict, String> {
    let mut dict = StateDict::new();
    for (name, tensor) in reader.into_tensors() {
        let shape = tensor.shape().to_vec();
        let dtype = tensor.dtype();
        let bytes = tensor.read().map_err(|e| e.to_string())?;
        let data = match dtype {
            DType::F32 => TensorData::from_bytes_vec(bytes, shape, BurnDType::F32),
            DType::F64 => TensorData::from_bytes_vec(bytes, shape, BurnDType::F64).convert::<f32>(),
            DType::F16 => TensorData::from_bytes_vec(bytes, shape, BurnDType::F16).convert::<f32>(),
            DType::BF16 => {
                TensorData::from_bytes_vec(bytes, shape, BurnDType::BF16).convert::<f32>()
            }
            DType::I64 => TensorData::from_bytes_vec(bytes, shape, BurnDType::I64),
            other => {
                return Err(format!(
                    "tensor {name} has unsupported element type {other:?}"
                ));
            }
        };
        dict.insert(name, data);
    }
    Ok(dict)
}

fn repack(path: &Path) -> std::result::Result<tempfile::NamedTempFile, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let config = zip::read::Config {
        archive_offset: zip::read::ArchiveOffset::Known(0),
    };
    let mut archive = zip::ZipArchive::with_config(config, file).map_err(|e| e.to_string())?;
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|e| e.to_string())?;
        let name = entry.name().map_err(|e| e.to_string())?.into_owned();
        let inner = name.split_once('/').map_or(name.as_str(), |(_, rest)| rest);
        out.start_file(format!("archive/{inner}"), stored)
            .map_err(|e| e.to_string())?;
        std::io::copy(&mut entry, &mut out).map_err(|e| e.to_string())?;
    }
    let bytes = out.finish().map_err(|e| e.to_string())?.into_inner();
    let mut file = tempfile::Builder::new()
        .suffix(".pth")
        .tempfile()
        .map_err(|e| e.to_string())?;
    file.write_all(&bytes).map_err(|e| e.to_string())?;
    Ok(file)
}

/// Writes `dict` in PyTorch's ZIP format (`torch.save` of an OrderedDict of tensors).
pub fn write_pth(path: &Path, dict: &StateDict) -> Result<()> {
    let mut pickle = Pickle::new();
    pickle.global("collections", "OrderedDict");
    pickle.op(EMPTY_TUPLE);
    pickle.op(REDUCE);
    pickle.op(MARK);
    for (index, (key, data)) in dict.iter().enumerate() {
        pickle.unicode(key);
        pickle.tensor(index, data);
    }
    pickle.op(SETITEMS);
    pickle.op(STOP);

    let mut archive = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .with_alignment(64);
    let zip_error = |e: zip::result::ZipError| Error::unwritable(path, std::io::Error::other(e));
    let mut entry = |name: &str, bytes: &[u8]| -> Result<()> {
        archive
            .start_file(format!("archive/{name}"), stored)
            .map_err(zip_error)?;
        archive.write_all(bytes).map_err(|e| zip_error(e.into()))
    };
    entry("data.pkl", &pickle.bytes)?;
    entry("byteorder", b"little")?;
    for (index, data) in dict.values().enumerate() {
        entry(&format!("data/{index}"), data.as_bytes())?;
    }
    entry("version", b"3\n")?;
    let bytes = archive.finish().map_err(zip_error)?.into_inner();
    crate::fsutil::write_atomic(path, &bytes)
}

const PROTO: u8 = 0x80;
const GLOBAL: u8 = b'c';
const EMPTY_TUPLE: u8 = b')';
const REDUCE: u8 = b'R';
const MARK: u8 = b'(';
const BINUNICODE: u8 = b'X';
const SETITEMS: u8 = b'u';
const TUPLE: u8 = b't';
const BINPERSID: u8 = b'Q';
const BININT: u8 = b'J';
const LONG1: u8 = 0x8a;
const NEWFALSE: u8 = 0x89;
const STOP: u8 = b'.';

/// The few pickle (protocol 2) opcodes a state_dict needs.
struct Pickle {
    bytes: Vec<u8>,
}

impl Pickle {
    fn new() -> Self {
        Self {
            bytes: vec![PROTO, 2],
        }
    }

    fn op(&mut self, op: u8) {
        self.bytes.push(op);
    }

    fn global(&mut self, module: &str, name: &str) {
        self.op(GLOBAL);
        self.bytes
            .extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    }

    fn unicode(&mut self, text: &str) {
        self.op(BINUNICODE);
        self.bytes
            .extend_from_slice(&(text.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(text.as_bytes());
    }

    fn int(&mut self, value: usize) {
        match i32::try_from(value) {
            Ok(v) => {
                self.op(BININT);
                self.bytes.extend_from_slice(&v.to_le_bytes());
            }
            Err(_) => {
                self.op(LONG1);
                self.bytes.push(8);
                self.bytes.extend_from_slice(&(value as i64).to_le_bytes());
            }
        }
    }

    fn int_tuple(&mut self, values: &[usize]) {
        self.op(MARK);
        for &v in values {
            self.int(v);
        }
        self.op(TUPLE);
    }

    /// `torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())` with the
    /// storage a persistent id ('storage', <Type>Storage, key, 'cpu', numel).
    fn tensor(&mut self, storage: usize, data: &TensorData) {
        let shape = data.shape().to_vec();
        let numel: usize = shape.iter().product();
        let mut strides = vec![1usize; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * shape[i + 1];
        }
        let storage_type = match data.dtype() {
            BurnDType::I64 => "LongStorage",
            _ => "FloatStorage",
        };
        self.global("torch._utils", "_rebuild_tensor_v2");
        self.op(MARK);
        self.op(MARK);
        self.unicode("storage");
        self.global("torch", storage_type);
        self.unicode(&storage.to_string());
        self.unicode("cpu");
        self.int(numel);
        self.op(TUPLE);
        self.op(BINPERSID);
        self.int(0);
        self.int_tuple(&shape);
        self.int_tuple(&strides);
        self.op(NEWFALSE);
        self.global("collections", "OrderedDict");
        self.op(EMPTY_TUPLE);
        self.op(REDUCE);
        self.op(TUPLE);
        self.op(REDUCE);
    }
}
