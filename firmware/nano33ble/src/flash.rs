//! The model store's flash: the region memory.x reserves at the top of the nRF52840's flash,
//! read as memory and erased and written through the NVMC.

use embassy_nrf::nvmc::{Nvmc, PAGE_SIZE};
use embedded_storage::nor_flash::NorFlash;
use tinyml_core::store::{Flash, StoreError};

extern "C" {
    // Defined in memory.x: the store region's first byte and the byte after its last.
    static __tinyml_store_start: u8;
    static __tinyml_store_end: u8;
}

/// UICR.NRFFW[0]: the address of a bootloader that registers itself there (0xFFFFFFFF: none).
const UICR_BOOTLOADER_ADDR: *const u32 = 0x1000_1014 as *const u32;

/// [`Flash`] over the store region, through the NVMC.
pub struct NvmcFlash {
    nvmc: Nvmc<'static>,
    /// The region's address and length.
    start: usize,
    len: usize,
    /// False when a bootloader lives inside the region: then nothing is erased or written.
    writable: bool,
}

impl NvmcFlash {
    /// The store region, which must be `len` bytes long (`Store::region_size`); panics (the LED
    /// turns red) if memory.x reserves another size.
    pub fn new(nvmc: Nvmc<'static>, len: usize) -> NvmcFlash {
        let start = &raw const __tinyml_store_start as usize;
        let end = &raw const __tinyml_store_end as usize;
        assert!(end - start == len && start.is_multiple_of(PAGE_SIZE));
        // Arduino's stock bootloader sits below the firmware. The relocated one that Arduino's
        // OpenMV/MicroPython instructions install lives at 0xE0000, inside the store, and records
        // its address in UICR: erasing it would leave the board without a way to flash it over
        // USB, so on such a board the store is read-only (deploys answer FlashError).
        // SAFETY: UICR is always-readable memory-mapped non-volatile configuration.
        let bootloader = unsafe { core::ptr::read_volatile(UICR_BOOTLOADER_ADDR) } as usize;
        NvmcFlash {
            nvmc,
            start,
            len,
            writable: !(start..end).contains(&bootloader),
        }
    }

    /// The absolute address of `len` bytes at `offset` of the region, if they lie in it and the
    /// region may be changed.
    fn address(&self, offset: usize, len: usize) -> Result<u32, StoreError> {
        match offset.checked_add(len) {
            Some(end) if self.writable && end <= self.len => Ok((self.start + offset) as u32),
            _ => Err(StoreError::Flash),
        }
    }
}

impl Flash for NvmcFlash {
    fn page_size(&self) -> usize {
        PAGE_SIZE
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the region is memory-mapped flash, always readable, that memory.x reserves for
        // the store (no code or data is linked there). It changes only through `erase` and
        // `write`, which take `&mut self` and so cannot run while the returned borrow lives.
        unsafe { core::slice::from_raw_parts(self.start as *const u8, self.len) }
    }

    fn erase(&mut self, offset: usize) -> Result<(), StoreError> {
        let at = self.address(offset, PAGE_SIZE)?;
        // The CPU stalls while a page is erased (up to 85 ms on the nRF52840); USB waits.
        self.nvmc
            .erase(at, at + PAGE_SIZE as u32)
            .map_err(|_| StoreError::Flash)
    }

    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), StoreError> {
        let at = self.address(offset, data.len())?;
        // The NVMC checks the 4-byte alignment the store promises.
        self.nvmc.write(at, data).map_err(|_| StoreError::Flash)
    }
}
