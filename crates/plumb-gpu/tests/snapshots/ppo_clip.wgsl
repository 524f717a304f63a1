// graph ppo_clip, pass 0 (ragged): 1 nodes; bindings 0: info, 1: partials, 2: tokoffsets, 3: load %3
@group(0) @binding(0) 
var<storage> info: array<u32>;
@group(0) @binding(1) 
var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) 
var<storage> tok_offsets: array<u32>;
@group(0) @binding(3) 
var<storage> in_3_: array<f32>;
var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256, 1, 1) 
fn main(@builtin(local_invocation_id) local_id: vec3<u32>, @builtin(workgroup_id) group_id: vec3<u32>) {
    var acc0_: f32;
    var sum17_: f32;
    var count17_: f32;
    var extreme17_: f32;
    var t0_: u32;

    let lid = local_id.x;
    let gid = group_id.x;
    let row = ((gid * 256u) + lid);
    let rows = info[0u];
    let tok_base = info[2u];
    acc0_ = 0f;
    if (row < rows) {
        let _e21 = tok_offsets[row];
        let _e25 = tok_offsets[(row + 1u)];
        sum17_ = 0f;
        count17_ = 0f;
        extreme17_ = bitcast<f32>(4286578688u);
        t0_ = _e21;
        loop {
            let _e32 = t0_;
            if (_e32 >= _e25) {
                break;
            }
            let v3_ = in_3_[(_e32 - tok_base)];
            let _e39 = count17_;
            count17_ = select(_e39, (_e39 + 1f), !((v3_ == 0f)));
            continuing {
                let _e43 = t0_;
                t0_ = (_e43 + 1u);
            }
        }
        let n17_ = count17_;
        let _e49 = acc0_;
        acc0_ = (_e49 + n17_);
    }
    let _e54 = info[1u];
    let _e57 = acc0_;
    partial[lid] = _e57;
    workgroupBarrier();
    if (lid < 128u) {
        let _e63 = partial[(lid + 128u)];
        let _e64 = partial[lid];
        partial[lid] = (_e64 + _e63);
    }
    workgroupBarrier();
    if (lid < 64u) {
        let _e70 = partial[(lid + 64u)];
        let _e71 = partial[lid];
        partial[lid] = (_e71 + _e70);
    }
    workgroupBarrier();
    if (lid < 32u) {
        let _e77 = partial[(lid + 32u)];
        let _e78 = partial[lid];
        partial[lid] = (_e78 + _e77);
    }
    workgroupBarrier();
    if (lid < 16u) {
        let _e84 = partial[(lid + 16u)];
        let _e85 = partial[lid];
        partial[lid] = (_e85 + _e84);
    }
    workgroupBarrier();
    if (lid < 8u) {
        let _e91 = partial[(lid + 8u)];
        let _e92 = partial[lid];
        partial[lid] = (_e92 + _e91);
    }
    workgroupBarrier();
    if (lid < 4u) {
        let _e98 = partial[(lid + 4u)];
        let _e99 = partial[lid];
        partial[lid] = (_e99 + _e98);
    }
    workgroupBarrier();
    if (lid < 2u) {
        let _e104 = partial[(lid + 2u)];
        let _e105 = partial[lid];
        partial[lid] = (_e105 + _e104);
    }
    workgroupBarrier();
    if (lid < 1u) {
        let _e110 = partial[(lid + 1u)];
        let _e111 = partial[lid];
        partial[lid] = (_e111 + _e110);
    }
    workgroupBarrier();
    if (lid == 0u) {
        let _e115 = partial[0u];
        partials[(((_e54 + gid) * 1u) + 0u)] = _e115;
    }
    workgroupBarrier();
}

// graph ppo_clip, pass 1 (ragged): 35 nodes; bindings 0: info, 1: scalars, 2: partials, 3: tokoffsets, 4: load %0, 5: load %1, 6: load %2, 7: load %3, 8: store %51
@group(0) @binding(0) 
var<storage> info: array<u32>;
@group(0) @binding(1) 
var<storage> scalars: array<f32>;
@group(0) @binding(2) 
var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) 
var<storage> tok_offsets: array<u32>;
@group(0) @binding(4) 
var<storage> in_0_: array<f32>;
@group(0) @binding(5) 
var<storage> in_1_: array<f32>;
@group(0) @binding(6) 
var<storage> in_2_: array<f32>;
@group(0) @binding(7) 
var<storage> in_3_: array<f32>;
@group(0) @binding(8) 
var<storage, read_write> out_51_: array<f32>;
var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256, 1, 1) 
fn main(@builtin(local_invocation_id) local_id: vec3<u32>, @builtin(workgroup_id) group_id: vec3<u32>) {
    var acc0_: f32;
    var sum16_: f32;
    var count16_: f32;
    var extreme16_: f32;
    var t0_: u32;

    let lid = local_id.x;
    let gid = group_id.x;
    let row = ((gid * 256u) + lid);
    let rows = info[0u];
    let tok_base = info[2u];
    let s22_ = scalars[0u];
    acc0_ = 0f;
    if (row < rows) {
        let _e28 = tok_offsets[row];
        let _e32 = tok_offsets[(row + 1u)];
        sum16_ = 0f;
        count16_ = 0f;
        extreme16_ = bitcast<f32>(4286578688u);
        t0_ = _e28;
        loop {
            let _e39 = t0_;
            if (_e39 >= _e32) {
                break;
            }
            let _e41 = (_e39 - tok_base);
            let v0_ = in_0_[_e41];
            let v1_ = in_1_[_e41];
            let n4_ = (v0_ - v1_);
            let n7_ = select(min(max(n4_, -20f), 20f), n4_, ((bitcast<u32>(n4_) & 2147483647u) > 2139095040u));
            let n8_ = exp(n7_);
            let n11_ = select(min(max(n8_, 0.8f), 1.2f), n8_, ((bitcast<u32>(n8_) & 2147483647u) > 2139095040u));
            let v2_ = in_2_[_e41];
            let n12_ = (n8_ * v2_);
            let n13_ = (n11_ * v2_);
            let n14_ = select(min(n12_, n13_), bitcast<f32>(2143289344u), (((bitcast<u32>(n12_) & 2147483647u) > 2139095040u) || ((bitcast<u32>(n13_) & 2147483647u) > 2139095040u)));
            let n15_ = -(n14_);
            let v3_ = in_3_[_e41];
            let _e85 = !((v3_ == 0f));
            let n26_ = select(0f, 1f, _e85);
            let n27_ = select(0f, 1f, !((n26_ == 0f)));
            let n28_ = (s22_ * n27_);
            let n30_ = (n28_ * -1f);
            let n31_ = select(0f, 1f, (n12_ < n13_));
            let n32_ = select(0f, 1f, (n13_ < n12_));
            let n33_ = select(0f, 1f, (n12_ == n13_));
            let n35_ = select(0f, 0.5f, !((n33_ == 0f)));
            let n36_ = select(n35_, 1f, !((n31_ == 0f)));
            let n37_ = select(n35_, 1f, !((n32_ == 0f)));
            let n38_ = (n30_ * n36_);
            let n39_ = (n30_ * n37_);
            let n40_ = (n39_ * v2_);
            let n41_ = (n38_ * v2_);
            let n42_ = select(0f, 1f, (n8_ >= 0.8f));
            let n43_ = select(0f, 1f, (n8_ <= 1.2f));
            let n44_ = select(0f, 1f, (!((n42_ == 0f)) && !((n43_ == 0f))));
            let n45_ = select(0f, n40_, !((n44_ == 0f)));
            let n46_ = (n41_ + n45_);
            let n47_ = (n46_ * n8_);
            let n48_ = select(0f, 1f, (n4_ >= -20f));
            let n49_ = select(0f, 1f, (n4_ <= 20f));
            let n50_ = select(0f, 1f, (!((n48_ == 0f)) && !((n49_ == 0f))));
            let n51_ = select(0f, n47_, !((n50_ == 0f)));
            let _e142 = count16_;
            count16_ = select(_e142, (_e142 + 1f), _e85);
            let _e145 = sum16_;
            sum16_ = select(_e145, (_e145 + n15_), _e85);
            out_51_[_e41] = n51_;
            continuing {
                let _e149 = t0_;
                t0_ = (_e149 + 1u);
            }
        }
        let _e151 = count16_;
        let n16_ = sum16_;
        let _e156 = acc0_;
        acc0_ = (_e156 + n16_);
    }
    let _e161 = info[1u];
    let _e164 = acc0_;
    partial[lid] = _e164;
    workgroupBarrier();
    if (lid < 128u) {
        let _e170 = partial[(lid + 128u)];
        let _e171 = partial[lid];
        partial[lid] = (_e171 + _e170);
    }
    workgroupBarrier();
    if (lid < 64u) {
        let _e177 = partial[(lid + 64u)];
        let _e178 = partial[lid];
        partial[lid] = (_e178 + _e177);
    }
    workgroupBarrier();
    if (lid < 32u) {
        let _e184 = partial[(lid + 32u)];
        let _e185 = partial[lid];
        partial[lid] = (_e185 + _e184);
    }
    workgroupBarrier();
    if (lid < 16u) {
        let _e191 = partial[(lid + 16u)];
        let _e192 = partial[lid];
        partial[lid] = (_e192 + _e191);
    }
    workgroupBarrier();
    if (lid < 8u) {
        let _e198 = partial[(lid + 8u)];
        let _e199 = partial[lid];
        partial[lid] = (_e199 + _e198);
    }
    workgroupBarrier();
    if (lid < 4u) {
        let _e205 = partial[(lid + 4u)];
        let _e206 = partial[lid];
        partial[lid] = (_e206 + _e205);
    }
    workgroupBarrier();
    if (lid < 2u) {
        let _e211 = partial[(lid + 2u)];
        let _e212 = partial[lid];
        partial[lid] = (_e212 + _e211);
    }
    workgroupBarrier();
    if (lid < 1u) {
        let _e217 = partial[(lid + 1u)];
        let _e218 = partial[lid];
        partial[lid] = (_e218 + _e217);
    }
    workgroupBarrier();
    if (lid == 0u) {
        let _e222 = partial[0u];
        partials[(((_e161 + gid) * 1u) + 0u)] = _e222;
    }
    workgroupBarrier();
}

