//! The wgpu device shared by every compiled graph: adapter selection (honouring
//! `WGPU_BACKEND`, `WGPU_ADAPTER_NAME`, `WGPU_POWER_PREF`), the pipeline cache
//! keyed by a kernel module's hash, and the buffer pool.
//!
//! Limits: the device is requested with every limit the adapter offers (so a
//! storage binding may exceed wgpu's 128 MiB default where the driver allows),
//! and with `SHADER_F64` and `SHADER_INT64` where the adapter has them; beyond
//! the binding limit, passes are chunked over rows (`exec`).

use crate::GpuError;
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

/// A compute pipeline and its (automatic) bind group layout.
pub struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// A pooled buffer: returned to the pool by [`Context::release`].
pub struct PooledBuffer {
    pub buffer: wgpu::Buffer,
    pub size: u64,
    usage: wgpu::BufferUsages,
}

/// The device, its queue, limits and caches.
pub struct Context {
    pub info: wgpu::AdapterInfo,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub limits: wgpu::Limits,
    /// The optional features the device was created with.
    pub features: wgpu::Features,
    pipelines: Mutex<HashMap<u64, Arc<Pipeline>>>,
    pool: Mutex<HashMap<(u64, u32), Vec<wgpu::Buffer>>>,
    errors: Arc<Mutex<Vec<String>>>,
}

/// Buffers usable as storage and as copy source and target.
pub const STORAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_DST).union(wgpu::BufferUsages::COPY_SRC);
/// Staging buffers for readback.
pub const READBACK: wgpu::BufferUsages = wgpu::BufferUsages::MAP_READ.union(wgpu::BufferUsages::COPY_DST);

/// Buffers kept per (size, usage) in the pool.
const POOL_PER_SIZE: usize = 8;

/// The shared context, created on first use. An error (no adapter, no device)
/// is remembered: every later call returns it.
pub fn context() -> Result<Arc<Context>, GpuError> {
    static CONTEXT: OnceLock<Result<Arc<Context>, GpuError>> = OnceLock::new();
    CONTEXT.get_or_init(|| Context::new().map(Arc::new)).clone()
}

impl Context {
    fn new() -> Result<Context, GpuError> {
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        // Without WGPU_BACKEND: the native compute APIs (Vulkan, Metal, DX12), not GL.
        if wgpu::Backends::from_env().is_none() {
            descriptor.backends = wgpu::Backends::PRIMARY;
        }
        let backends = descriptor.backends;
        let instance = wgpu::Instance::new(descriptor);
        let adapter =
            pollster::block_on(wgpu::util::initialize_adapter_from_env_or_default(&instance, None)).map_err(|e| {
                GpuError::NoAdapter(format!(
                    "no GPU adapter found for backends {backends:?} ({e}); install a Vulkan driver \
                     (for software Vulkan: apt-get install mesa-vulkan-drivers libvulkan1) and set WGPU_BACKEND=vulkan"
                ))
            })?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        // 64-bit floats and integers where the adapter has them (f64 kernels need both).
        let features = adapter.features() & (wgpu::Features::SHADER_F64 | wgpu::Features::SHADER_INT64);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("plumb-gpu"),
            required_features: features,
            required_limits: limits.clone(),
            memory_hints: wgpu::MemoryHints::Performance,
            ..Default::default()
        }))
        .map_err(|e| GpuError::NoAdapter(format!("the adapter {} refused a device: {e}", info.name)))?;
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        Ok(Context {
            info,
            device,
            queue,
            limits,
            features,
            pipelines: Mutex::default(),
            pool: Mutex::default(),
            errors,
        })
    }

    /// A one-line description of the adapter.
    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {:?}, driver {} {})",
            self.info.name, self.info.backend, self.info.device_type, self.info.driver, self.info.driver_info
        )
    }

    /// Errors the device reported outside an error scope since the last call.
    pub fn take_errors(&self) -> Result<(), GpuError> {
        let errors: Vec<String> = self.errors.lock().map(|mut e| std::mem::take(&mut *e)).unwrap_or_default();
        if errors.is_empty() { Ok(()) } else { Err(GpuError::Device(errors.join("; "))) }
    }

    /// The pipeline of a validated module, cached by the hash of the module.
    pub fn pipeline(&self, module: &naga::Module, label: &str) -> Result<(u64, Arc<Pipeline>), GpuError> {
        let key = module_hash(module);
        if let Some(hit) = self.pipelines.lock().ok().and_then(|p| p.get(&key).cloned()) {
            return Ok((key, hit));
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let shader = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Naga(Cow::Owned(module.clone())),
        });
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(label),
            layout: None,
            module: &shader,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        let layout = pipeline.get_bind_group_layout(0);
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Pipeline(format!("{label}: {error}")));
        }
        let compiled = Arc::new(Pipeline { pipeline, layout });
        if let Ok(mut p) = self.pipelines.lock() {
            p.insert(key, compiled.clone());
        }
        Ok((key, compiled))
    }

    /// A buffer of at least `bytes` bytes from the pool (sizes are rounded up:
    /// powers of two to 1 MiB, then whole MiB, so similar batches reuse buffers).
    pub fn acquire(&self, bytes: u64, usage: wgpu::BufferUsages) -> Result<PooledBuffer, GpuError> {
        let size = bucket(bytes);
        if size > self.limits.max_buffer_size {
            return Err(GpuError::TooLarge(format!(
                "a buffer of {bytes} bytes exceeds the device's largest buffer ({} bytes)",
                self.limits.max_buffer_size
            )));
        }
        let key = (size, usage.bits());
        if let Some(buffer) = self.pool.lock().ok().and_then(|mut p| p.get_mut(&key).and_then(Vec::pop)) {
            return Ok(PooledBuffer { buffer, size, usage });
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("plumb-gpu"),
            size,
            usage,
            mapped_at_creation: false,
        });
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(GpuError::OutOfMemory(format!("{size} bytes: {error}")));
        }
        Ok(PooledBuffer { buffer, size, usage })
    }

    /// Returns a buffer to the pool.
    pub fn release(&self, buffer: PooledBuffer) {
        if let Ok(mut pool) = self.pool.lock() {
            let slot = pool.entry((buffer.size, buffer.usage.bits())).or_default();
            if slot.len() < POOL_PER_SIZE {
                slot.push(buffer.buffer);
            }
        }
    }

    /// Drops every pooled buffer.
    pub fn clear_pool(&self) {
        if let Ok(mut pool) = self.pool.lock() {
            pool.clear();
        }
    }

    /// Waits for all submitted work.
    pub fn wait(&self) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Device(format!("waiting for the device: {e}")))?;
        self.take_errors()
    }
}

fn bucket(bytes: u64) -> u64 {
    const MIB: u64 = 1 << 20;
    let bytes = bytes.max(16);
    if bytes <= MIB { bytes.next_power_of_two() } else { bytes.div_ceil(MIB) * MIB }
}

/// The hash of a module: its full debug form (types, globals, expressions, statements).
pub fn module_hash(module: &naga::Module) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    format!("{module:?}").hash(&mut hasher);
    hasher.finish()
}
