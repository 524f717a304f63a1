// Packed attention as a libtorch autograd function whose forward and backward
// are Rust kernels (src/attention.rs), handed over as function pointers.
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
}

namespace {

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

// The caller (src/attention.rs) has checked shapes, kinds, devices and
// contiguity. Returns a new tensor, or null with `error` set (a message the
// caller frees with plumb_free_error).
extern "C" at::Tensor* plumb_packed_attention(const at::Tensor* q, const at::Tensor* k, const at::Tensor* v,
                                              const at::Tensor* ranges, double scale, int64_t pairs,
                                              plumb_attention_forward_fn forward_fn,
                                              plumb_attention_backward_fn backward_fn, char** error) {
  try {
    auto y = PackedAttention::apply(*q, *k, *v, *ranges, scale, pairs, reinterpret_cast<int64_t>(forward_fn),
                                    reinterpret_cast<int64_t>(backward_fn));
    return new at::Tensor(std::move(y));
  } catch (const std::exception& e) {
    std::string message = e.what();
    *error = new char[message.size() + 1];
    message.copy(*error, message.size());
    (*error)[message.size()] = '\0';
    return nullptr;
  }
}

extern "C" void plumb_free_error(char* error) { delete[] error; }
