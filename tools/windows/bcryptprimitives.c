/* A test-only stand-in for Windows' bcryptprimitives.dll, for running the kit's Windows build
 * under Debian 12's Wine 8.0, which lacks it. Rust's standard library asks it for random bytes
 * (ProcessPrng, Windows 10+); this one forwards to RtlGenRandom (advapi32's SystemFunction036),
 * which Wine has. Real Windows has the real DLL: this file is never shipped.
 *
 * Built by tools/test-windows: x86_64-w64-mingw32-gcc -shared -o bcryptprimitives.dll
 * bcryptprimitives.c bcryptprimitives.def -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
