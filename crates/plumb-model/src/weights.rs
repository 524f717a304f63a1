//! Named tensors in the safetensors format: reading (f32, f16, bf16 → f32) with
//! errors that name the file and tensor, and atomic writing.

use crate::error::{ModelError, Result, codes};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// Tensors by name, plus the file's string metadata.
pub struct TensorFile {
    pub path: PathBuf,
    pub tensors: BTreeMap<String, Tensor>,
    pub metadata: BTreeMap<String, String>,
}

fn weights_error(path: &Path, message: impl std::fmt::Display) -> ModelError {
    ModelError::new(codes::WEIGHTS, format!("{}: {message}", path.display()))
}

fn to_f32(dtype: Dtype, data: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::BF16 => {
            data.chunks_exact(2).map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16)).collect()
        }
        Dtype::F16 => data.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect(),
        _ => return None,
    })
}

fn f16_to_f32(bits: u16) -> f32 {
    let sign = if bits & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let mantissa = f32::from(bits & 0x3ff);
    match exponent {
        0 => sign * mantissa * 2f32.powi(-24),
        31 if mantissa == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        e => sign * (1.0 + mantissa / 1024.0) * 2f32.powi(e - 15),
    }
}

/// Why `bytes` is not a safetensors file, saying so plainly when it was cut short.
fn describe(error: &safetensors::SafeTensorError, bytes: &[u8]) -> String {
    use safetensors::SafeTensorError as E;
    match error {
        E::HeaderTooSmall => {
            format!("not a safetensors file: {} bytes, too short for a header (empty or truncated)", bytes.len())
        }
        E::InvalidHeaderLength => format!(
            "truncated safetensors file: its header is {} bytes long but the file has {} bytes",
            bytes.get(..8).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default())),
            bytes.len()
        ),
        E::MetadataIncompleteBuffer => format!(
            "truncated safetensors file: the tensors its header lists do not fill its {} bytes exactly \
             (cut short, or bytes appended)",
            bytes.len()
        ),
        other => format!("not a safetensors file: {other}"),
    }
}

impl TensorFile {
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(codes::MISSING, path, &e))?;
        Self::parse(&bytes, path)
    }

    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| weights_error(path, describe(&e, bytes)))?;
        let metadata = header.metadata().clone().unwrap_or_default().into_iter().collect();
        let file = SafeTensors::deserialize(bytes).map_err(|e| weights_error(path, describe(&e, bytes)))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in file.tensors() {
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            let values = to_f32(view.dtype(), view.data()).ok_or_else(|| {
                weights_error(
                    path,
                    format!("tensor `{name}` has type {:?}; Plumb reads F32, F16, BF16 and F64", view.dtype()),
                )
            })?;
            tensors.insert(name, Tensor::from_slice(&values).reshape(&shape));
        }
        Ok(TensorFile { path: path.to_path_buf(), tensors, metadata })
    }

    /// Removes and returns a tensor, checking its shape.
    pub fn take(&mut self, name: &str, shape: &[i64]) -> Result<Tensor> {
        let tensor = self.tensors.remove(name).ok_or_else(|| {
            let near = self.near(name);
            let hint = if near.is_empty() { String::new() } else { format!(" (found {})", near.join(", ")) };
            weights_error(&self.path, format!("missing tensor `{name}`{hint}"))
        })?;
        if tensor.size() != shape {
            return Err(weights_error(
                &self.path,
                format!("tensor `{name}` has shape {:?}, the config implies {shape:?}", tensor.size()),
            ));
        }
        Ok(tensor)
    }

    /// Tensors left in the file that a missing `name` may have been saved as: the
    /// same tensor under another prefix, else the others of its module.
    fn near(&self, name: &str) -> Vec<&str> {
        // Under another prefix: `embed_tokens.weight` for `model.embed_tokens.weight`, or the reverse.
        let ends = |long: &str, short: &str| long.strip_suffix(short).is_some_and(|head| head.ends_with('.'));
        let tail = name.split_once('.').map_or("", |(_, tail)| tail);
        let moved: Vec<&str> = self
            .tensors
            .keys()
            .filter(|k| {
                (tail.contains('.') && (k.as_str() == tail || ends(k, tail))) || (k.contains('.') && ends(name, k))
            })
            .map(String::as_str)
            .take(3)
            .collect();
        if !moved.is_empty() {
            return moved;
        }
        // Else the tensors of the same kind (`weight`, `bias`) in the nearest module.
        let leaf = name.rsplit('.').next().unwrap_or(name);
        let same_leaf = || self.tensors.keys().filter(move |k| k.rsplit('.').next() == Some(leaf));
        let shared = |k: &str| k.split('.').zip(name.split('.')).take_while(|(a, b)| a == b).count();
        let parts = name.split('.').count();
        let best = same_leaf().map(|k| shared(k)).max().unwrap_or(0);
        if best == 0 || best + 2 < parts {
            return Vec::new();
        }
        same_leaf().filter(|k| shared(k) == best).map(String::as_str).take(4).collect()
    }
}

/// Serialises f32 tensors (in name order) with string metadata.
pub fn serialize(tensors: &[(String, Tensor)], metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut data: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, tensor) in tensors {
        let tensor = tensor.detach().to_kind(Kind::Float).contiguous();
        let shape: Vec<usize> = tensor.size().iter().map(|&d| d as usize).collect();
        let values: Vec<f32> = Vec::<f32>::try_from(tensor.flatten(0, -1))?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        data.push((name.clone(), shape, bytes));
    }
    let views: Vec<(String, TensorView<'_>)> = data
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| ModelError::new(codes::WEIGHTS, format!("tensor `{name}`: {e}")))
        })
        .collect::<Result<_>>()?;
    let info: HashMap<String, String> = metadata.clone().into_iter().collect();
    safetensors::serialize(views, Some(info)).map_err(|e| ModelError::new(codes::WEIGHTS, format!("serialising: {e}")))
}

/// Writes a file atomically (plumb-runtime's temporary file, sync and rename),
/// creating its folder first, so a reader sees the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| ModelError::new(codes::MISSING, format!("cannot write {}: {e}", path.display())))?;
    plumb_runtime::write_atomic(path, bytes).map_err(|e| ModelError::new(codes::MISSING, e.message))
}
