// graph dpo, pass 0: 13 nodes; bindings 0: info, 1: scalars, 2: partials, 3: load %0, 4: load %1, 5: load %2, 6: load %3, 7: store %10, 8: store %24, 9: store %25
@group(0) @binding(0) 
var<storage> info: array<u32>;
@group(0) @binding(1) 
var<storage> scalars: array<f32>;
@group(0) @binding(2) 
var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) 
var<storage> in_0_: array<f32>;
@group(0) @binding(4) 
var<storage> in_1_: array<f32>;
@group(0) @binding(5) 
var<storage> in_2_: array<f32>;
@group(0) @binding(6) 
var<storage> in_3_: array<f32>;
@group(0) @binding(7) 
var<storage, read_write> out_10_: array<f32>;
@group(0) @binding(8) 
var<storage, read_write> out_24_: array<f32>;
@group(0) @binding(9) 
var<storage, read_write> out_25_: array<f32>;
var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256, 1, 1) 
fn main(@builtin(local_invocation_id) local_id: vec3<u32>, @builtin(workgroup_id) group_id: vec3<u32>) {
    var acc0_: f32;

    let lid = local_id.x;
    let gid = group_id.x;
    let row = ((gid * 256u) + lid);
    let rows = info[0u];
    let s17_ = scalars[0u];
    acc0_ = 0f;
    if (row < rows) {
        let v0_ = in_0_[row];
        let v1_ = in_1_[row];
        let v2_ = in_2_[row];
        let v3_ = in_3_[row];
        let n4_ = (v0_ - v2_);
        let n5_ = (v1_ - v3_);
        let n6_ = (n4_ - n5_);
        let n8_ = (0.1f * n6_);
        let _e42 = exp(-(abs(n8_)));
        let _e45 = (1f + _e42);
        let _e49 = (_e42 > 0.41421354f);
        let _e50 = select(_e42, ((_e45 * 0.5f) - 1f), _e49);
        let _e51 = select(0f, 1f, _e49);
        let _e54 = (_e50 / (2f + _e50));
        let _e55 = (_e54 * _e54);
        let _e56 = (_e55 * _e55);
        let _e69 = ((0.5f * _e50) * _e50);
        let n9_ = (select(0f, n8_, (n8_ < 0f)) - ((_e51 * 0.6931381f) - ((_e69 - ((_e54 * (_e69 + ((_e55 * ((0.28498787f * _e56) + 0.6666666f)) + (_e56 * ((0.24279079f * _e56) + 0.40000972f))))) + (_e51 * 0.000009058001f))) - _e50)));
        let n10_ = -(n9_);
        let n20_ = (s17_ * -1f);
        let n21_ = -(n8_);
        let _e85 = (1f / _e45);
        let n22_ = select(_e85, (_e42 * _e85), (n21_ < 0f));
        let n23_ = (n20_ * n22_);
        let n24_ = (n23_ * 0.1f);
        let n25_ = -(n24_);
        let _e92 = acc0_;
        acc0_ = (_e92 + n10_);
        out_10_[row] = n10_;
        out_24_[row] = n24_;
        out_25_[row] = n25_;
    }
    let _e100 = info[1u];
    let _e103 = acc0_;
    partial[lid] = _e103;
    workgroupBarrier();
    if (lid < 128u) {
        let _e109 = partial[(lid + 128u)];
        let _e110 = partial[lid];
        partial[lid] = (_e110 + _e109);
    }
    workgroupBarrier();
    if (lid < 64u) {
        let _e116 = partial[(lid + 64u)];
        let _e117 = partial[lid];
        partial[lid] = (_e117 + _e116);
    }
    workgroupBarrier();
    if (lid < 32u) {
        let _e123 = partial[(lid + 32u)];
        let _e124 = partial[lid];
        partial[lid] = (_e124 + _e123);
    }
    workgroupBarrier();
    if (lid < 16u) {
        let _e130 = partial[(lid + 16u)];
        let _e131 = partial[lid];
        partial[lid] = (_e131 + _e130);
    }
    workgroupBarrier();
    if (lid < 8u) {
        let _e137 = partial[(lid + 8u)];
        let _e138 = partial[lid];
        partial[lid] = (_e138 + _e137);
    }
    workgroupBarrier();
    if (lid < 4u) {
        let _e144 = partial[(lid + 4u)];
        let _e145 = partial[lid];
        partial[lid] = (_e145 + _e144);
    }
    workgroupBarrier();
    if (lid < 2u) {
        let _e151 = partial[(lid + 2u)];
        let _e152 = partial[lid];
        partial[lid] = (_e152 + _e151);
    }
    workgroupBarrier();
    if (lid < 1u) {
        let _e157 = partial[(lid + 1u)];
        let _e158 = partial[lid];
        partial[lid] = (_e158 + _e157);
    }
    workgroupBarrier();
    if (lid == 0u) {
        let _e162 = partial[0u];
        partials[(((_e100 + gid) * 1u) + 0u)] = _e162;
    }
    workgroupBarrier();
}

