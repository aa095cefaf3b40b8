"""The step profile's arithmetic: kernel time by kind, and the GPU's idle time between kernels."""

from __future__ import annotations

from bench.step_profile import kind_of, step_breakdown


def test_kernels_are_sorted_into_kinds() -> None:
    assert kind_of("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize64x64x64") == "matrix products"
    assert kind_of("nvjet_tst_64x8_64x16_4x1_v_bz_splitK_TNT") == "matrix products"
    assert kind_of("void flash::flash_fwd_splitkv_kernel<Flash_fwd_kernel_traits<128>>") == "attention"
    assert kind_of("void at::native::bitonicSortKVInPlace<float>") == "sort (top-p)"
    assert kind_of("triton_red_fused__to_copy_add_mean_mul_pow_rsqrt_0") == "triton (fused element-wise)"
    assert kind_of("Memcpy DtoH (Device -> Pinned)") == "copies"
    assert kind_of("void at::native::vectorized_elementwise_kernel<4>") == "other"


def test_idle_is_the_span_less_the_union_of_kernels() -> None:
    us = 1_000  # ns
    kernels = [
        ("gemm_a", 0, 40 * us),
        ("triton_b", 30 * us, 50 * us),  # overlaps the first by 10 µs: counted once in busy time
        ("gemm_c", 70 * us, 100 * us),  # 20 µs with nothing running before it
    ]
    result = step_breakdown(kernels, steps=2)
    assert result["step_us"] == 50.0  # 100 µs over 2 steps
    assert result["gpu_busy_us"] == 40.0  # 80 µs busy
    assert result["gpu_idle_us"] == 10.0
    assert result["by_kind_us"] == {"matrix products": 35.0, "triton (fused element-wise)": 10.0}
    assert result["heaviest_us"][0] == ["gemm_a", 20.0]
    assert result["kernels_per_step"] == 1.5
