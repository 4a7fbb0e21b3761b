//! What the laptop's processor can do (x86_64), asked once at run time: the kernels that have a
//! faster version for a vector unit ([`crate::int8`]'s convolution, [`crate::mfcc`]) pick it
//! here. The board and other processors take the portable code.
//!
//! `CPUID` and `XGETBV`, as `std::is_x86_feature_detected!` does (the core has no `std`).
#![allow(unsafe_code)]

use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
use core::sync::atomic::{AtomicU8, Ordering};

/// Bit 0 set once asked, bit 1 AVX2, bit 2 AVX-512 VNNI (with AVX512F, AVX512BW and AVX512VL).
static UNITS: AtomicU8 = AtomicU8::new(0);

const AVX2: u8 = 2;
const AVX512_VNNI: u8 = 4;

fn units() -> u8 {
    let mut units = UNITS.load(Ordering::Relaxed);
    if units == 0 {
        units = detect();
        UNITS.store(units, Ordering::Relaxed);
    }
    units
}

/// The processor and its operating system run AVX2 code.
pub(crate) fn has_avx2() -> bool {
    units() & AVX2 != 0
}

/// The processor and its operating system run AVX-512 VNNI code on 256-bit registers
/// (AVX512F, AVX512BW, AVX512VL and AVX512_VNNI: every feature the VNNI builds enable).
pub(crate) fn has_avx512_vnni() -> bool {
    units() & AVX512_VNNI != 0
}

fn detect() -> u8 {
    let mut units = 1;
    if __cpuid(0).eax < 7 {
        return units;
    }
    let leaf1 = __cpuid(1);
    let osxsave = leaf1.ecx & (1 << 27) != 0;
    let avx = leaf1.ecx & (1 << 28) != 0;
    if !(osxsave && avx) {
        return units;
    }
    // SAFETY: XGETBV exists when CPUID reports OSXSAVE, checked above.
    let xcr0 = unsafe { xgetbv0() };
    let leaf7 = __cpuid_count(7, 0);
    // The operating system saves the SSE and AVX registers…
    if xcr0 & 0b110 == 0b110 && leaf7.ebx & (1 << 5) != 0 {
        units |= AVX2;
        // …and AVX-512's (opmask, upper halves, upper 16): AVX512F, AVX512BW, AVX512VL and
        // AVX512_VNNI (a hypervisor may hide any one of them).
        let avx512_state = xcr0 & 0b1110_0000 == 0b1110_0000;
        let f = leaf7.ebx & (1 << 16) != 0;
        let bw = leaf7.ebx & (1 << 30) != 0;
        let vl = leaf7.ebx & (1 << 31) != 0;
        let vnni = leaf7.ecx & (1 << 11) != 0;
        if avx512_state && f && bw && vl && vnni {
            units |= AVX512_VNNI;
        }
    }
    units
}

#[target_feature(enable = "xsave")]
unsafe fn xgetbv0() -> u64 {
    _xgetbv(0)
}
