/* MNIST in the browser, no server: the toolkit's preprocessing and a dense network's
 * forward pass in plain JavaScript. `mnist export RUN --format web` ships this file with
 * the model's weights (model.js, the theta layout of `--format csv`).
 *
 * preprocess() ports mnistcli/preprocess.py's pipeline (greyscale with transparency,
 * polarity by Otsu, background plane, noise floor, crop to the ink without specks, thin
 * strokes thickened, longer side 20 px with Pillow's BOX/BILINEAR resampling, centre of
 * mass at the centre of 28x28): tests/test_browser.py checks that every fixture image
 * gives the same 28x28 here as in `mnist predict`, to one grey level. Not ported yet:
 * the steps preprocess.py gained for hard photos (smoothing before ink detection,
 * connected ink regions, the uneven-light surface, fat-stroke erosion); clean drawings
 * and scans do not reach them. A plain script (not a module): it works from file://.
 */
(function (root) {
  "use strict";

  var FIELD = 28;
  var BOX = 20;
  var CENTRE = 14.0;
  var WORK_SIDE = 160;
  var DECODE_SIDE = 1024;
  var MIN_CONTRAST = 0.06;
  var MIN_CONTRAST_SIGMAS = 6.0;
  var NOISE_FLOOR_SIGMAS = 4.0;
  var MIN_FLOOR = 0.06;
  var SPECK_MASS = 0.02;
  var MIN_STROKE = 1.3;
  var TARGET_STROKE = 2.0;
  var PASS_BOX = [18, 22];
  var PASS_CENTRE_TOLERANCE = 1.0;

  function NoInkError(message) {
    this.name = "NoInkError";
    this.message = message;
  }
  NoInkError.prototype = Object.create(Error.prototype);

  /* Python's round(): halves go to the even neighbour. */
  function roundHalfEven(x) {
    var r = Math.round(x);
    if (Math.abs(x % 1) === 0.5 && r % 2 !== 0) r -= 1;
    return r;
  }

  /* A 2-D float32 array: {h, w, d: Float32Array(h * w)}. */
  function grid(h, w) {
    return { h: h, w: w, d: new Float32Array(h * w) };
  }

  function quantile(values, q) {
    var sorted = Float64Array.from(values).sort();
    var rank = Math.min(roundHalfEven(q * (sorted.length - 1)), sorted.length - 1);
    return sorted[rank];
  }

  function minMax(values) {
    var lo = Infinity, hi = -Infinity;
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    return [lo, hi];
  }

  /* ------------------------------------------------------------ greyscale */

  /* Pillow's Image.reduce(factor) on one channel: the mean of each block, partial
   * blocks at the edges averaged over what they hold. */
  function reduceChannel(values, h, w, factor) {
    var oh = Math.ceil(h / factor), ow = Math.ceil(w / factor);
    var out = new Float32Array(oh * ow);
    for (var y = 0; y < oh; y++) {
      for (var x = 0; x < ow; x++) {
        var sum = 0, n = 0;
        for (var yy = y * factor; yy < Math.min(h, (y + 1) * factor); yy++) {
          for (var xx = x * factor; xx < Math.min(w, (x + 1) * factor); xx++) {
            sum += values[yy * w + xx];
            n++;
          }
        }
        out[y * ow + x] = Math.round(sum / n);
      }
    }
    return { d: out, h: oh, w: ow };
  }

  /* RGBA bytes (ImageData) -> greyscale [0, 1], transparency composited as to_grey. */
  function toGrey(rgba, width, height) {
    var n = width * height;
    var channels = [new Float32Array(n), new Float32Array(n), new Float32Array(n),
      new Float32Array(n)];
    for (var i = 0; i < n; i++) {
      for (var c = 0; c < 4; c++) channels[c][i] = rgba[i * 4 + c];
    }
    var h = height, w = width;
    var longest = Math.max(width, height);
    if (longest > DECODE_SIDE) {
      var factor = Math.ceil(longest / DECODE_SIDE);
      for (var k = 0; k < 4; k++) {
        var reduced = reduceChannel(channels[k], height, width, factor);
        channels[k] = reduced.d;
        h = reduced.h;
        w = reduced.w;
      }
      n = h * w;
    }
    var grey = grid(h, w);
    var alpha = new Float32Array(n);
    var minAlpha = 1;
    for (var p = 0; p < n; p++) {
      grey.d[p] = (channels[0][p] * 0.299 + channels[1][p] * 0.587 +
        channels[2][p] * 0.114) / 255;
      alpha[p] = channels[3][p] / 255;
      if (alpha[p] < minAlpha) minAlpha = alpha[p];
    }
    if (minAlpha >= 1) return grey;
    var opaque = [];
    for (var q = 0; q < n; q++) if (alpha[q] > 0.5) opaque.push(grey.d[q]);
    if (!opaque.length) return grid(h, w);
    var typical = quantile(opaque, 0.5);
    var background = opaque.length / n < 0.5 ? (typical < 0.5 ? 1.0 : 0.0) : typical;
    for (var r = 0; r < n; r++) {
      grey.d[r] = grey.d[r] * alpha[r] + background * (1 - alpha[r]);
    }
    return grey;
  }

  /* ------------------------------------------------------------ ink map */

  function otsuThreshold(values, bins) {
    bins = bins || 256;
    var mm = minMax(values), low = mm[0], high = mm[1];
    if (high <= low) return low;
    var edges = new Float64Array(bins + 1);
    var step = (high - low) / bins;
    for (var e = 0; e <= bins; e++) edges[e] = low + e * step;
    edges[bins] = high;
    var histogram = new Float64Array(bins);
    var norm = bins / (high - low);
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      var index = Math.floor((v - low) * norm);
      if (index >= bins) index = bins - 1;
      if (v < edges[index]) index -= 1;
      else if (index < bins - 1 && v >= edges[index + 1]) index += 1;
      histogram[index] += 1;
    }
    var weight = new Float64Array(bins), mass = new Float64Array(bins);
    var w = 0, m = 0;
    for (var b = 0; b < bins; b++) {
      w += histogram[b];
      m += histogram[b] * (edges[b] + edges[b + 1]) / 2;
      weight[b] = w;
      mass[b] = m;
    }
    var total = weight[bins - 1], best = -Infinity, bestIndex = 0;
    for (var t = 0; t < bins - 1; t++) {
      var below = weight[t], above = total - below, between = -1;
      if (below > 0 && above > 0) {
        var meanBelow = mass[t] / below;
        var meanAbove = (mass[bins - 1] - mass[t]) / above;
        between = below * above * (meanBelow - meanAbove) * (meanBelow - meanAbove);
      }
      if (between > best) {
        best = between;
        bestIndex = t;
      }
    }
    return edges[bestIndex + 1];
  }

  function borderMask(h, w) {
    var band = Math.max(1, roundHalfEven(Math.min(h, w) * 0.03));
    var mask = new Uint8Array(h * w);
    for (var y = 0; y < h; y++) {
      for (var x = 0; x < w; x++) {
        if (y < band || y >= h - band || x < band || x >= w - band) mask[y * w + x] = 1;
      }
    }
    return mask;
  }

  /* Least squares a + b*row + c*col through the samples (normal equations). */
  function fitPlane(values, rows, cols) {
    var s = [0, 0, 0, 0, 0, 0], t = [0, 0, 0], n = values.length;
    for (var i = 0; i < n; i++) {
      var r = rows[i], c = cols[i], v = values[i];
      s[0] += r; s[1] += c; s[2] += r * r; s[3] += r * c; s[4] += c * c;
      t[0] += v; t[1] += v * r; t[2] += v * c;
    }
    var a = [[n, s[0], s[1]], [s[0], s[2], s[3]], [s[1], s[3], s[4]]];
    return solve3(a, t);
  }

  function solve3(a, b) {
    var m = a.map(function (row, i) { return row.concat([b[i]]); });
    for (var col = 0; col < 3; col++) {
      var pivot = col;
      for (var r = col + 1; r < 3; r++) {
        if (Math.abs(m[r][col]) > Math.abs(m[pivot][col])) pivot = r;
      }
      var tmp = m[col]; m[col] = m[pivot]; m[pivot] = tmp;
      if (Math.abs(m[col][col]) < 1e-12) return null;  // degenerate: samples on a line
      for (var rr = 0; rr < 3; rr++) {
        if (rr === col) continue;
        var f = m[rr][col] / m[col][col];
        for (var k = col; k < 4; k++) m[rr][k] -= f * m[col][k];
      }
    }
    return [m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]];
  }

  function inkMap(grey) {
    var h = grey.h, w = grey.w, n = h * w, d = grey.d;
    var mm = minMax(d);
    if (mm[1] - mm[0] < MIN_CONTRAST) {
      throw new NoInkError("no ink found (the image is blank or uniform)");
    }
    var threshold = otsuThreshold(d);
    var border = borderMask(h, w);
    var upper = new Uint8Array(n), borderCount = 0, brightBorder = 0, upperCount = 0;
    for (var i = 0; i < n; i++) {
      upper[i] = d[i] > threshold ? 1 : 0;
      upperCount += upper[i];
      if (border[i]) {
        borderCount++;
        brightBorder += upper[i];
      }
    }
    var brightShare = brightBorder / borderCount;
    var g = d;
    if (brightShare > 0.5 || (brightShare === 0.5 && upperCount / n > 0.5)) {
      g = new Float32Array(n);
      for (var j = 0; j < n; j++) {
        g[j] = 1.0 - d[j];
        upper[j] = 1 - upper[j];
      }
    }
    var rows = [], cols = [], samples = [], count = 0;
    for (var p = 0; p < n; p++) if (border[p] && !upper[p]) count++;
    for (var q = 0; q < n; q++) {
      if (count >= 3 ? (border[q] && !upper[q]) : !upper[q]) {
        rows.push(Math.floor(q / w));
        cols.push(q % w);
        samples.push(g[q]);
      }
    }
    var residual = new Float32Array(n), sigma = 0;
    var sm = minMax(samples);
    var plane = sm[1] - sm[0] === 0 ? null : fitPlane(samples, rows, cols);
    if (plane === null) {
      for (var z = 0; z < n; z++) residual[z] = Math.max(g[z] - samples[0], 0);
    } else {
      var fitted = new Float64Array(samples.length);
      for (var s = 0; s < samples.length; s++) {
        fitted[s] = samples[s] - (plane[0] + plane[1] * rows[s] + plane[2] * cols[s]);
      }
      var median = quantile(fitted, 0.5);
      for (var u = 0; u < fitted.length; u++) fitted[u] = Math.abs(fitted[u] - median);
      sigma = 1.4826 * quantile(fitted, 0.5);
      for (var y = 0; y < h; y++) {
        for (var x = 0; x < w; x++) {
          var k = y * w + x;
          residual[k] = Math.max(g[k] - Math.fround(plane[0] + plane[1] * y + plane[2] * x), 0);
        }
      }
    }
    var split = otsuThreshold(residual);
    var inkValues = [];
    for (var t = 0; t < n; t++) if (residual[t] > split) inkValues.push(residual[t]);
    var inkLevel = inkValues.length ? quantile(inkValues, 0.9) : 0.0;
    if (inkLevel < Math.max(MIN_CONTRAST, MIN_CONTRAST_SIGMAS * sigma)) {
      throw new NoInkError("no ink found (nothing stands out from the background or its noise)");
    }
    var floor = Math.max(NOISE_FLOOR_SIGMAS * sigma, MIN_FLOOR * inkLevel);
    var ink = grid(h, w);
    for (var v = 0; v < n; v++) {
      ink.d[v] = Math.min(Math.max((residual[v] - floor) / (inkLevel - floor), 0), 1);
    }
    return ink;
  }

  /* ------------------------------------------------------------ 28x28 */

  function keepRange(profile) {
    var runs = [], start = -1, mass = 0, total = 0;
    for (var i = 0; i <= profile.length; i++) {
      var filled = i < profile.length && profile[i] > 0;
      if (filled) {
        if (start < 0) { start = i; mass = 0; }
        mass += profile[i];
      } else if (start >= 0) {
        runs.push([start, i, mass]);
        total += mass;
        start = -1;
      }
    }
    while (runs.length > 1 && runs[0][2] < SPECK_MASS * total) runs.shift();
    while (runs.length > 1 && runs[runs.length - 1][2] < SPECK_MASS * total) runs.pop();
    return [runs[0][0], runs[runs.length - 1][1]];
  }

  function rowSums(g, top, bottom, left, right) {
    var out = new Float64Array(bottom - top);
    for (var y = top; y < bottom; y++) {
      for (var x = left; x < right; x++) out[y - top] += g.d[y * g.w + x];
    }
    return out;
  }

  function colSums(g, top, bottom, left, right) {
    var out = new Float64Array(right - left);
    for (var y = top; y < bottom; y++) {
      for (var x = left; x < right; x++) out[x - left] += g.d[y * g.w + x];
    }
    return out;
  }

  function inkBox(ink) {
    var rb = keepRange(rowSums(ink, 0, ink.h, 0, ink.w));
    var cb = keepRange(colSums(ink, rb[0], rb[1], 0, ink.w));
    rb = keepRange(rowSums(ink, 0, ink.h, cb[0], cb[1]));
    return [rb[0], rb[1], cb[0], cb[1]];
  }

  function centreOfMass(g) {
    var total = 0, r = 0, c = 0;
    for (var y = 0; y < g.h; y++) {
      for (var x = 0; x < g.w; x++) {
        var v = g.d[y * g.w + x];
        total += v;
        r += v * y;
        c += v * x;
      }
    }
    return [r / total, c / total];
  }

  function crop(g, top, bottom, left, right) {
    var out = grid(bottom - top, right - left);
    for (var y = top; y < bottom; y++) {
      for (var x = left; x < right; x++) out.d[(y - top) * out.w + x - left] = g.d[y * g.w + x];
    }
    return out;
  }

  function maxPool(g, factor) {
    var out = grid(Math.ceil(g.h / factor), Math.ceil(g.w / factor));
    for (var y = 0; y < g.h; y++) {
      for (var x = 0; x < g.w; x++) {
        var k = Math.floor(y / factor) * out.w + Math.floor(x / factor);
        if (g.d[y * g.w + x] > out.d[k]) out.d[k] = g.d[y * g.w + x];
      }
    }
    return out;
  }

  function strokeWidth(g) {
    var area = 0, edges = 0, h = g.h, w = g.w;
    function at(y, x) {
      return y >= 0 && y < h && x >= 0 && x < w && g.d[y * w + x] >= 0.5 ? 1 : 0;
    }
    for (var y = -1; y < h; y++) {
      for (var x = -1; x < w; x++) {
        var here = at(y, x);
        area += here;
        if (y + 1 <= h && x >= 0 && here !== at(y + 1, x)) edges++;
        if (x + 1 <= w && y >= 0 && here !== at(y, x + 1)) edges++;
      }
    }
    return area === 0 ? 0 : 2 * area / edges;
  }

  function dilate(g, size) {
    var out = grid(g.h + size - 1, g.w + size - 1);
    for (var y = 0; y < g.h; y++) {
      for (var x = 0; x < g.w; x++) {
        var v = g.d[y * g.w + x];
        if (v <= 0) continue;
        for (var dy = 0; dy < size; dy++) {
          for (var dx = 0; dx < size; dx++) {
            var k = (y + dy) * out.w + x + dx;
            if (v > out.d[k]) out.d[k] = v;
          }
        }
      }
    }
    return out;
  }

  var FILTERS = {
    box: { support: 0.5, f: function (x) { return x > -0.5 && x <= 0.5 ? 1.0 : 0.0; } },
    bilinear: { support: 1.0, f: function (x) { x = Math.abs(x); return x < 1 ? 1 - x : 0; } }
  };

  /* Pillow's precompute_coeffs (libImaging/Resample.c). */
  function coefficients(inSize, outSize, filter) {
    var scale = inSize / outSize, filterscale = Math.max(scale, 1.0);
    var support = filter.support * filterscale, result = [];
    for (var xx = 0; xx < outSize; xx++) {
      var center = (xx + 0.5) * scale, ww = 0, ss = 1.0 / filterscale;
      var xmin = Math.max(Math.trunc(center - support + 0.5), 0);
      var xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
      var k = new Float64Array(Math.max(xmax, 0));
      for (var x = 0; x < xmax; x++) {
        k[x] = filter.f((x + xmin - center + 0.5) * ss);
        ww += k[x];
      }
      if (ww !== 0) for (var j = 0; j < xmax; j++) k[j] /= ww;
      result.push({ start: xmin, k: k });
    }
    return result;
  }

  /* Image.fromarray(g, "F").resize((width, height), filter): horizontal, then vertical. */
  function resize(g, width, height, filterName) {
    var filter = FILTERS[filterName], current = g;
    if (width !== g.w) {
      var cx = coefficients(g.w, width, filter), out = grid(g.h, width);
      for (var y = 0; y < g.h; y++) {
        for (var x = 0; x < width; x++) {
          var s = 0, c = cx[x];
          for (var i = 0; i < c.k.length; i++) s += g.d[y * g.w + c.start + i] * c.k[i];
          out.d[y * width + x] = s;
        }
      }
      current = out;
    }
    if (height !== current.h) {
      var cy = coefficients(current.h, height, filter), out2 = grid(height, current.w);
      for (var yy = 0; yy < height; yy++) {
        var cc = cy[yy];
        for (var xx = 0; xx < current.w; xx++) {
          var t = 0;
          for (var j = 0; j < cc.k.length; j++) {
            t += current.d[(cc.start + j) * current.w + xx] * cc.k[j];
          }
          out2.d[yy * current.w + xx] = t;
        }
      }
      current = out2;
    }
    return current;
  }

  function toUint8(g) {
    var out = new Uint8Array(g.h * g.w);
    for (var i = 0; i < out.length; i++) {
      out[i] = roundHalfEven(Math.min(Math.max(g.d[i], 0), 1) * 255);
    }
    return out;
  }

  function place(digit) {
    var com = centreOfMass(digit);
    var top = Math.min(Math.max(roundHalfEven(CENTRE - com[0]), 0), FIELD - digit.h);
    var left = Math.min(Math.max(roundHalfEven(CENTRE - com[1]), 0), FIELD - digit.w);
    var field = grid(FIELD, FIELD);
    for (var y = 0; y < digit.h; y++) {
      for (var x = 0; x < digit.w; x++) {
        field.d[(top + y) * FIELD + left + x] = digit.d[y * digit.w + x];
      }
    }
    return field;
  }

  function normaliseInk(ink) {
    var box = inkBox(ink);
    if (ink.h === FIELD && ink.w === FIELD) {
      var side = Math.max(box[1] - box[0], box[3] - box[2]), com = centreOfMass(ink);
      if (side >= PASS_BOX[0] && side <= PASS_BOX[1] &&
          Math.abs(com[0] - CENTRE) <= PASS_CENTRE_TOLERANCE &&
          Math.abs(com[1] - CENTRE) <= PASS_CENTRE_TOLERANCE) {
        return toUint8(ink);
      }
    }
    var c = crop(ink, box[0], box[1], box[2], box[3]);
    var longest = Math.max(c.h, c.w);
    if (longest > WORK_SIDE) {
      c = maxPool(c, Math.ceil(longest / WORK_SIDE));
      longest = Math.max(c.h, c.w);
    }
    var widthInBox = strokeWidth(c) * BOX / longest;
    if (widthInBox > 0 && widthInBox < MIN_STROKE) {
      var grow = roundHalfEven((TARGET_STROKE - widthInBox) * longest / BOX);
      if (grow >= 1) {
        c = dilate(c, grow + 1);
        longest = Math.max(c.h, c.w);
      }
    }
    var width = Math.max(1, roundHalfEven(c.w * BOX / longest));
    var height = Math.max(1, roundHalfEven(c.h * BOX / longest));
    var digit = resize(c, width, height, longest > BOX ? "box" : "bilinear");
    var peak = 0;
    for (var i = 0; i < digit.d.length; i++) {
      if (digit.d[i] < 0) digit.d[i] = 0;
      if (digit.d[i] > peak) peak = digit.d[i];
    }
    if (peak <= 0) throw new NoInkError("no ink left after scaling");
    for (var j = 0; j < digit.d.length; j++) digit.d[j] = Math.fround(digit.d[j] / peak);
    return toUint8(place(digit));
  }

  /* An MNIST-like 28x28 (white on clean black, box about 20 px, centred) is kept. */
  function passThrough(pixels) {
    var borderInk = 0, borderSize = 0, max = 0;
    for (var y = 0; y < FIELD; y++) {
      for (var x = 0; x < FIELD; x++) {
        var v = pixels[y * FIELD + x];
        if (v > max) max = v;
        if (y === 0 || y === FIELD - 1 || x === 0 || x === FIELD - 1) {
          borderSize++;
          if (v) borderInk++;
        }
      }
    }
    if (borderInk > Math.floor(borderSize / 10) || max < 128) return null;
    var g = grid(FIELD, FIELD), top = FIELD, bottom = -1, left = FIELD, right = -1;
    for (var i = 0; i < pixels.length; i++) {
      g.d[i] = pixels[i];
      if (pixels[i]) {
        var r = Math.floor(i / FIELD), c = i % FIELD;
        top = Math.min(top, r); bottom = Math.max(bottom, r);
        left = Math.min(left, c); right = Math.max(right, c);
      }
    }
    var side = Math.max(bottom - top, right - left) + 1;
    if (side < PASS_BOX[0] || side > PASS_BOX[1]) return null;
    var com = centreOfMass(g);
    if (Math.abs(com[0] - CENTRE) > PASS_CENTRE_TOLERANCE ||
        Math.abs(com[1] - CENTRE) > PASS_CENTRE_TOLERANCE) return null;
    return Uint8Array.from(pixels);
  }

  /* RGBA bytes of any picture of one digit -> Uint8Array(784), white ink on black, as
   * mnistcli.preprocess.preprocess. Throws NoInkError for a blank picture. */
  function preprocess(rgba, width, height) {
    var grey = toGrey(rgba, width, height);
    if (grey.h === FIELD && grey.w === FIELD) {
      var kept = passThrough(toUint8(grey));
      if (kept) return kept;
    }
    return normaliseInk(inkMap(grey));
  }

  /* ------------------------------------------------------------ dense network */

  var ACTIVATIONS = {
    linear: function (z) { return z; },
    relu: function (z) { return z.map(function (v) { return Math.max(v, 0); }); },
    sigmoid: function (z) { return z.map(function (v) { return 1 / (1 + Math.exp(-v)); }); },
    tanh: function (z) { return z.map(Math.tanh); },
    softmax: function (z) {
      var max = Math.max.apply(null, Array.from(z)), sum = 0;
      var e = z.map(function (v) { var x = Math.exp(v - max); sum += x; return x; });
      return e.map(function (v) { return v / sum; });
    }
  };

  function decodeFloats(base64) {
    var bytes = atob(base64), buffer = new ArrayBuffer(bytes.length);
    var view = new Uint8Array(buffer);
    for (var i = 0; i < bytes.length; i++) view[i] = bytes.charCodeAt(i);
    return new Float32Array(buffer);  // little-endian, as every browser's platform is
  }

  /* The model of model.js: layers in the theta layout (row 0 biases, row i + 1 the
   * weights from input i). */
  function loadModel(spec) {
    return {
      name: spec.model,
      info: spec,
      layers: spec.layers.map(function (layer) {
        return { rows: layer.rows, columns: layer.columns, activation: layer.activation,
          theta: decodeFloats(layer.theta) };
      })
    };
  }

  /* Uint8Array(784) pixels -> Float64Array of class probabilities. */
  function forward(model, pixels) {
    var a = new Float64Array(pixels.length);
    for (var i = 0; i < pixels.length; i++) a[i] = Math.fround(pixels[i] / 255);
    model.layers.forEach(function (layer) {
      var cols = layer.columns, theta = layer.theta, z = new Float64Array(cols);
      for (var j = 0; j < cols; j++) z[j] = theta[j];
      for (var r = 0; r < a.length; r++) {
        var v = a[r];
        if (v === 0) continue;
        var base = (r + 1) * cols;
        for (var c = 0; c < cols; c++) z[c] += v * theta[base + c];
      }
      a = ACTIVATIONS[layer.activation](z);
    });
    return a;
  }

  root.MnistEngine = {
    preprocess: preprocess,
    loadModel: loadModel,
    forward: forward,
    NoInkError: NoInkError,
    _internal: { otsuThreshold: otsuThreshold, resize: resize, roundHalfEven: roundHalfEven }
  };
})(typeof window !== "undefined" ? window : this);
