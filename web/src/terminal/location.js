// The PAD's location for self-check, heartbeat and service requests (docs/vwin.md
// "Location"). Browsers report WGS-84; points are stored in GCJ-02 as the government map
// uses, so the position is converted before it is sent (the offset is several hundred
// metres in China, larger than many geofences). ?geo=lng,lat[,accuracy] fixes the location
// (GCJ-02) for demos and tests. Resolves to {lng, lat, accuracy_m} or null (no fix).

const A = 6378245.0;
const EE = 0.00669342162296594323;

function outOfChina(lng, lat) {
  return lng < 72.004 || lng > 137.8347 || lat < 0.8293 || lat > 55.8271;
}

function tLat(x, y) {
  let r = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  r += ((20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2) / 3;
  r += ((20 * Math.sin(y * Math.PI) + 40 * Math.sin((y / 3) * Math.PI)) * 2) / 3;
  r += ((160 * Math.sin((y / 12) * Math.PI) + 320 * Math.sin((y * Math.PI) / 30)) * 2) / 3;
  return r;
}

function tLng(x, y) {
  let r = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  r += ((20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2) / 3;
  r += ((20 * Math.sin(x * Math.PI) + 40 * Math.sin((x / 3) * Math.PI)) * 2) / 3;
  r += ((150 * Math.sin((x / 12) * Math.PI) + 300 * Math.sin((x / 30) * Math.PI)) * 2) / 3;
  return r;
}

/** WGS-84 → GCJ-02 (the published national formula). */
export function wgs84ToGcj02(lng, lat) {
  if (outOfChina(lng, lat)) return { lng, lat };
  let dLat = tLat(lng - 105, lat - 35);
  let dLng = tLng(lng - 105, lat - 35);
  const radLat = (lat / 180) * Math.PI;
  let magic = Math.sin(radLat);
  magic = 1 - EE * magic * magic;
  const sqrtMagic = Math.sqrt(magic);
  dLat = (dLat * 180) / (((A * (1 - EE)) / (magic * sqrtMagic)) * Math.PI);
  dLng = (dLng * 180) / ((A / sqrtMagic) * Math.cos(radLat) * Math.PI);
  return { lng: lng + dLng, lat: lat + dLat };
}

let last = null;

export async function currentLocation(timeoutMs = 5000) {
  const fixed = new URLSearchParams(location.search).get('geo');
  if (fixed) {
    const [lng, lat, acc] = fixed.split(',').map(Number);
    if (Number.isFinite(lng) && Number.isFinite(lat)) return { lng, lat, accuracy_m: Number.isFinite(acc) ? acc : 10 };
  }
  if (!navigator.geolocation) return last;
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(last), timeoutMs + 500);
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        clearTimeout(t);
        const g = wgs84ToGcj02(pos.coords.longitude, pos.coords.latitude);
        last = { lng: Number(g.lng.toFixed(6)), lat: Number(g.lat.toFixed(6)), accuracy_m: Math.round(pos.coords.accuracy || 0) };
        resolve(last);
      },
      () => {
        clearTimeout(t);
        resolve(last);
      },
      { enableHighAccuracy: true, timeout: timeoutMs, maximumAge: 60000 },
    );
  });
}
