// libtorch autograd functions whose forward and backward passes are Rust
// kernels, handed over as function pointers: packed attention
// (src/attention.rs), rotary embeddings and RMSNorm (src/fused.rs).
#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstdint>
#include <exception>
#include <string>

extern "C" {
typedef void (*plumb_attention_forward_fn)(const float* q, const float* k, const float* v, const int64_t* ranges,
                                           int64_t n, int64_t heads, int64_t kv_heads, int64_t dim, float scale,
                                           float* y, float* probs);
typedef void (*plumb_attention_backward_fn)(const float* q, const float* k, const float* v, const int64_t* ranges,
                                            const float* y, const float* probs, const float* dy, int64_t n,
                                            int64_t heads, int64_t kv_heads, int64_t dim, float scale, float* dq,
                                            float* dk, float* dv);
typedef void (*plumb_rope_fn)(const float* x, const float* cos, const float* sin, int64_t tokens, int64_t heads,
                              int64_t dim, int64_t inverse, float* out);
typedef void (*plumb_rms_norm_forward_fn)(const float* x, const float* weight, int64_t rows, int64_t width,
                                          float eps, float* y, float* inverse_rms);
typedef void (*plumb_rms_norm_backward_fn)(const float* x, const float* weight, const float* inverse_rms,
                                           const float* dy, int64_t rows, int64_t width, float* dx, float* dweight);
}

namespace {

struct Rope : public torch::autograd::Function<Rope> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& cos,
                            const at::Tensor& sin, int64_t kernel) {
    const int64_t heads = x.size(-2), dim = x.size(-1), tokens = x.numel() / (heads * dim);
    auto out = at::empty_like(x);
    reinterpret_cast<plumb_rope_fn>(kernel)(x.data_ptr<float>(), cos.data_ptr<float>(), sin.data_ptr<float>(),
                                            tokens, heads, dim, 0, out.data_ptr<float>());
    ctx->save_for_backward({cos, sin});
    ctx->saved_data["kernel"] = kernel;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto dy = grads[0].contiguous();
    const int64_t heads = dy.size(-2), dim = dy.size(-1), tokens = dy.numel() / (heads * dim);
    auto dx = at::empty_like(dy);
    reinterpret_cast<plumb_rope_fn>(ctx->saved_data["kernel"].toInt())(
        dy.data_ptr<float>(), saved[0].data_ptr<float>(), saved[1].data_ptr<float>(), tokens, heads, dim, 1,
        dx.data_ptr<float>());
    return {dx, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

struct RmsNorm : public torch::autograd::Function<RmsNorm> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            double eps, int64_t forward_fn, int64_t backward_fn) {
    const int64_t width = x.size(-1), rows = x.numel() / width;
    auto y = at::empty_like(x);
    auto inverse_rms = at::empty({rows}, x.options());
    reinterpret_cast<plumb_rms_norm_forward_fn>(forward_fn)(x.data_ptr<float>(), weight.data_ptr<float>(), rows,
                                                            width, static_cast<float>(eps), y.data_ptr<float>(),
                                                            inverse_rms.data_ptr<float>());
    ctx->save_for_backward({x, weight, inverse_rms});
    ctx->saved_data["backward"] = backward_fn;
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &weight = saved[1], &inverse_rms = saved[2];
    auto dy = grads[0].contiguous();
    const int64_t width = x.size(-1), rows = x.numel() / width;
    auto dx = at::empty_like(x);
    auto dweight = at::empty_like(weight);
    reinterpret_cast<plumb_rms_norm_backward_fn>(ctx->saved_data["backward"].toInt())(
        x.data_ptr<float>(), weight.data_ptr<float>(), inverse_rms.data_ptr<float>(), dy.data_ptr<float>(), rows,
        width, dx.data_ptr<float>(), dweight.data_ptr<float>());
    return {dx, dweight, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

struct PackedAttention : public torch::autograd::Function<PackedAttention> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, const at::Tensor& ranges, double scale, int64_t pairs,
                            int64_t forward_fn, int64_t backward_fn) {
    const int64_t n = q.size(0), heads = q.size(1), dim = q.size(2), kv_heads = k.size(1);
    auto y = at::empty({n, heads, dim}, q.options());
    // Each query's attention weights, kept for the backward pass.
    auto probs = at::empty({pairs * heads}, q.options());
    reinterpret_cast<plumb_attention_forward_fn>(forward_fn)(
        q.data_ptr<float>(), k.data_ptr<float>(), v.data_ptr<float>(), ranges.data_ptr<int64_t>(), n, heads,
        kv_heads, dim, static_cast<float>(scale), y.data_ptr<float>(), probs.data_ptr<float>());
    ctx->save_for_backward({q, k, v, ranges, y, probs});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["backward"] = backward_fn;
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &ranges = saved[3], &y = saved[4], &probs = saved[5];
    const int64_t n = q.size(0), heads = q.size(1), dim = q.size(2), kv_heads = k.size(1);
    auto dy = grads[0].contiguous();
    auto dq = at::empty_like(q);
    auto dk = at::zeros_like(k);
    auto dv = at::zeros_like(v);
    auto backward_fn = reinterpret_cast<plumb_attention_backward_fn>(ctx->saved_data["backward"].toInt());
    backward_fn(q.data_ptr<float>(), k.data_ptr<float>(), v.data_ptr<float>(), ranges.data_ptr<int64_t>(),
                y.data_ptr<float>(), probs.data_ptr<float>(), dy.data_ptr<float>(), n, heads, kv_heads, dim,
                static_cast<float>(ctx->saved_data["scale"].toDouble()), dq.data_ptr<float>(), dk.data_ptr<float>(),
                dv.data_ptr<float>());
    return {dq, dk, dv, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

// Runs `op` and hands its result over as a new tensor, or returns null with
// `error` set to a message the caller frees with plumb_free_error.
template <typename Op>
at::Tensor* guarded(char** error, Op op) {
  try {
    return new at::Tensor(op());
  } catch (const std::exception& e) {
    std::string message = e.what();
    *error = new char[message.size() + 1];
    message.copy(*error, message.size());
    (*error)[message.size()] = '\0';
    return nullptr;
  }
}

// The callers (src/attention.rs, src/fused.rs) have checked shapes, kinds,
// devices and contiguity.
extern "C" at::Tensor* plumb_rope(const at::Tensor* x, const at::Tensor* cos, const at::Tensor* sin,
                                  plumb_rope_fn kernel, char** error) {
  return guarded(error, [&] { return Rope::apply(*x, *cos, *sin, reinterpret_cast<int64_t>(kernel)); });
}

extern "C" at::Tensor* plumb_rms_norm(const at::Tensor* x, const at::Tensor* weight, double eps,
                                      plumb_rms_norm_forward_fn forward_fn, plumb_rms_norm_backward_fn backward_fn,
                                      char** error) {
  return guarded(error, [&] {
    return RmsNorm::apply(*x, *weight, eps, reinterpret_cast<int64_t>(forward_fn),
                          reinterpret_cast<int64_t>(backward_fn));
  });
}

extern "C" at::Tensor* plumb_packed_attention(const at::Tensor* q, const at::Tensor* k, const at::Tensor* v,
                                              const at::Tensor* ranges, double scale, int64_t pairs,
                                              plumb_attention_forward_fn forward_fn,
                                              plumb_attention_backward_fn backward_fn, char** error) {
  return guarded(error, [&] {
    return PackedAttention::apply(*q, *k, *v, *ranges, scale, pairs, reinterpret_cast<int64_t>(forward_fn),
                                  reinterpret_cast<int64_t>(backward_fn));
  });
}

extern "C" void plumb_free_error(char* error) { delete[] error; }
