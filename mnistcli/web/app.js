/* The page of `mnist serve` and of `mnist export --format web`: a drawing pad, uploads,
 * and the network's answer (digit, ten probabilities, the 28x28 it saw).
 *
 * Two engines answer the same question: the server (POST /api/predict, the toolkit's own
 * preprocessing and LiteRT model), or, in an exported offline app where model.js defined
 * window.MNIST_MODEL, mnist.js in this browser. A plain script: works from file://.
 */
(function () {
  "use strict";

  var LINE_WIDTH = 18;       // on the 280 px pad: MNIST-like strokes once scaled to 20 px
  var LIVE_INTERVAL = 180;   // ms between predictions while the pen is down
  var INK = "#111318";
  var NO_INK_TEXT = "The box is empty: draw a digit first (one digit, large, in the middle).";

  var pad = document.getElementById("pad");
  var ctx = pad.getContext("2d", { willReadFrequently: true });
  var seen = document.getElementById("seen");
  var seenCtx = seen.getContext("2d");
  var digitOut = document.getElementById("digit");
  var confidenceOut = document.getElementById("confidence");
  var messageOut = document.getElementById("message");
  var barsList = document.getElementById("bars");
  var modelOut = document.getElementById("model");
  var dropzone = document.getElementById("dropzone");

  var offline = typeof window.MNIST_MODEL !== "undefined" && window.MnistEngine;
  var engine = offline ? offlineEngine(window.MNIST_MODEL) : serverEngine();

  /* ------------------------------------------------------------ engines */

  function serverEngine() {
    return {
      describe: function () {
        return fetch("api/model").then(function (r) { return r.json(); }).then(function (m) {
          var parts = [];
          if (typeof m.test_accuracy === "number") {
            parts.push("test accuracy " + (m.test_accuracy * 100).toFixed(2) + "%");
          }
          parts.push(m.backend === "litert" ? "LiteRT" : m.backend);
          return { name: m.model || m.name, detail: parts.join(" · "), title: m.description };
        });
      },
      /* body: a Blob (PNG of the pad, or the uploaded file) */
      predict: function (body, signal) {
        return fetch("api/predict", {
          method: "POST",
          body: body,
          signal: signal,
          headers: { "Content-Type": body.type || "application/octet-stream" }
        }).then(function (response) {
          return response.json().catch(function () {
            return { error: "the server answered " + response.status };
          }).then(function (data) {
            if (!response.ok || data.error) {
              throw { noInk: response.status === 422 && /no ink/.test(data.error || ""),
                message: data.error || ("the server answered " + response.status) };
            }
            return { digit: data.digit, probabilities: data.probabilities,
              pixels: [].concat.apply([], data.pixels) };
          });
        });
      },
      fromPad: function () {
        return new Promise(function (resolve) { pad.toBlob(resolve, "image/png"); });
      }
    };
  }

  function offlineEngine(spec) {
    var model = window.MnistEngine.loadModel(spec);
    function run(imageData) {
      var pixels;
      try {
        pixels = window.MnistEngine.preprocess(imageData.data, imageData.width,
          imageData.height);
      } catch (error) {
        if (error instanceof window.MnistEngine.NoInkError) {
          throw { noInk: true, message: error.message };
        }
        throw { message: String(error && error.message || error) };
      }
      var probabilities = Array.from(window.MnistEngine.forward(model, pixels));
      var best = 0;
      probabilities.forEach(function (p, i) { if (p > probabilities[best]) best = i; });
      return { digit: best, probabilities: probabilities, pixels: Array.from(pixels) };
    }
    return {
      describe: function () {
        return Promise.resolve({ name: spec.model,
          detail: "runs in this browser, no server", title: spec.description });
      },
      predict: function (blob) {
        return decode(blob).then(run);
      },
      fromPad: function () {
        return Promise.resolve(ctx.getImageData(0, 0, pad.width, pad.height));
      }
    };
  }

  /* A File/Blob -> its RGBA pixels at full size (EXIF orientation applied, no colour
   * management: what Pillow reads). */
  function decode(blob) {
    if (blob instanceof ImageData) return Promise.resolve(blob);
    return createImageBitmap(blob, { premultiplyAlpha: "none", colorSpaceConversion: "none" })
      .catch(function () {
        throw { message: "not an image this browser can read" };
      })
      .then(function (bitmap) {
        var canvas = document.createElement("canvas");
        canvas.width = bitmap.width;
        canvas.height = bitmap.height;
        var c = canvas.getContext("2d", { willReadFrequently: true });
        c.drawImage(bitmap, 0, 0);
        return c.getImageData(0, 0, bitmap.width, bitmap.height);
      });
  }

  /* ------------------------------------------------------------ showing results */

  function buildBars() {
    for (var d = 0; d < 10; d++) {
      var li = document.createElement("li");
      li.dataset.digit = String(d);
      li.innerHTML = '<span class="label">' + d + '</span><span class="track">' +
        '<span class="fill"></span></span><span class="value">–</span>';
      barsList.appendChild(li);
    }
  }

  function percent(p) {
    return (p * 100).toFixed(p >= 0.9995 || p < 0.0005 ? 0 : 1) + "%";
  }

  function show(result, source) {
    var probabilities = result.probabilities;
    digitOut.textContent = String(result.digit);
    digitOut.classList.remove("empty");
    digitOut.dataset.state = "answer";
    confidenceOut.textContent = percent(probabilities[result.digit]) + " sure";
    var order = probabilities.map(function (p, i) { return [p, i]; })
      .sort(function (a, b) { return b[0] - a[0]; });
    var runnerUp = order[1];
    messageOut.classList.remove("error");
    messageOut.textContent = (source === "upload" ? "From your image. " : "") +
      (runnerUp[0] >= 0.05 ? "Runner-up: " + runnerUp[1] + " (" + percent(runnerUp[0]) + ")."
        : "No close runner-up.");
    Array.prototype.forEach.call(barsList.children, function (li, d) {
      var p = probabilities[d];
      li.classList.toggle("best", d === result.digit);
      li.querySelector(".fill").style.width = (p * 100).toFixed(1) + "%";
      li.querySelector(".value").textContent = percent(p);
      li.setAttribute("aria-label", "digit " + d + ": " + percent(p));
    });
    drawSeen(result.pixels);
  }

  function drawSeen(pixels) {
    var image = seenCtx.createImageData(28, 28);
    for (var i = 0; i < 784; i++) {
      var v = pixels ? pixels[i] : 0;
      image.data[i * 4] = image.data[i * 4 + 1] = image.data[i * 4 + 2] = v;
      image.data[i * 4 + 3] = 255;
    }
    seenCtx.putImageData(image, 0, 0);
  }

  function reset(text) {
    digitOut.textContent = "?";
    digitOut.classList.add("empty");
    digitOut.dataset.state = "empty";
    confidenceOut.innerHTML = "&nbsp;";
    messageOut.classList.remove("error");
    messageOut.textContent = text;
    Array.prototype.forEach.call(barsList.children, function (li, d) {
      li.classList.remove("best");
      li.querySelector(".fill").style.width = "0";
      li.querySelector(".value").textContent = "–";
      li.setAttribute("aria-label", "digit " + d);
    });
    drawSeen(null);
  }

  function showError(error) {
    reset("");
    digitOut.dataset.state = "error";
    messageOut.classList.add("error");
    messageOut.textContent = error && error.noInk ? NO_INK_TEXT
      : "Could not read that: " + (error && error.message || error) + ".";
  }

  /* ------------------------------------------------------------ asking */

  var sequence = 0;      // the answer to the latest question wins
  var inFlight = 0;
  var current = null;    // the pad's question in flight
  var again = false;     // the pad changed while it was asked: ask again after

  /* body.dataset.busy is "1" while any question is open or queued (tests wait on it) */
  function markBusy() {
    document.body.dataset.busy = inFlight > 0 || again ? "1" : "";
  }

  function ask(bodyPromise, source, signal) {
    var mine = ++sequence;
    inFlight++;
    markBusy();
    return bodyPromise.then(function (body) {
      return engine.predict(body, signal);
    }).then(function (result) {
      if (mine === sequence) show(result, source);
    }, function (error) {
      if (mine === sequence) showError(error);
    }).then(function () {
      inFlight--;
      markBusy();
    });
  }

  /* Ask about the pad. While drawing (final false) one question at a time, the newest
   * drawing next; when the pen lifts (final true) a question still open about an older
   * drawing is dropped and the finished drawing asked at once. */
  function askPad(final) {
    if (current) {
      if (!final) {
        again = true;
        markBusy();
        return;
      }
      current.abort();
    }
    again = false;
    var controller = typeof AbortController !== "undefined" ? new AbortController() : null;
    var mine = { abort: function () { if (controller) controller.abort(); } };
    current = mine;
    ask(engine.fromPad(), "pad", controller && controller.signal).then(function () {
      if (current !== mine) return;
      current = null;
      if (again) askPad(false);
      markBusy();
    });
  }

  function askFile(file) {
    if (!file) return;
    if (file.type && !/^image\//.test(file.type)) {
      showError({ message: file.name + " is not an image" });
      return;
    }
    previewFile(file);
    ask(Promise.resolve(file), "upload");
  }

  /* ------------------------------------------------------------ the pad */

  var drawing = null;  // the pointer id while a stroke is in progress
  var last = null;
  var dirty = false;   // drawn since the last question
  var showingUpload = false;
  var lastLive = 0;

  function clearPad() {
    ctx.clearRect(0, 0, pad.width, pad.height);
    showingUpload = false;
    dirty = false;
  }

  function point(event) {
    var rect = pad.getBoundingClientRect();
    return [(event.clientX - rect.left) * pad.width / rect.width,
      (event.clientY - rect.top) * pad.height / rect.height];
  }

  function stroke(from, to) {
    ctx.strokeStyle = INK;
    ctx.fillStyle = INK;
    ctx.lineWidth = LINE_WIDTH;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    if (from[0] === to[0] && from[1] === to[1]) {
      ctx.beginPath();
      ctx.arc(to[0], to[1], LINE_WIDTH / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    ctx.moveTo(from[0], from[1]);
    ctx.lineTo(to[0], to[1]);
    ctx.stroke();
  }

  pad.addEventListener("pointerdown", function (event) {
    if (drawing !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    if (showingUpload) clearPad();
    drawing = event.pointerId;
    try {
      pad.setPointerCapture(event.pointerId);  // keep the stroke when the pen leaves the box
    } catch (ignored) { /* a synthetic event's pointer cannot be captured */ }
    last = point(event);
    stroke(last, last);
    dirty = true;
  });

  pad.addEventListener("pointermove", function (event) {
    if (event.pointerId !== drawing) return;
    var events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    if (!events.length) events = [event];
    events.forEach(function (e) {
      var p = point(e);
      stroke(last, p);
      last = p;
    });
    var now = Date.now();
    if (now - lastLive > LIVE_INTERVAL) {
      lastLive = now;
      askPad(false);
    }
  });

  function endStroke(event) {
    if (event.pointerId !== drawing) return;
    drawing = null;
    last = null;
    if (dirty) {
      dirty = false;
      askPad(true);  // right away: the answer follows the pen within milliseconds
    }
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  pad.addEventListener("keydown", function (event) {
    if (event.key === "Delete" || event.key === "Backspace" || event.key === "Escape") {
      event.preventDefault();
      clearAll();
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      askPad(true);
    }
  });

  function clearAll() {
    sequence++;
    clearPad();
    reset("Draw a digit to start.");
  }

  document.getElementById("clear").addEventListener("click", function () {
    clearAll();
    pad.focus();
  });
  document.getElementById("predict").addEventListener("click", function () { askPad(true); });

  /* ------------------------------------------------------------ uploads */

  function previewFile(file) {
    decode(file).then(function (imageData) {
      var canvas = document.createElement("canvas");
      canvas.width = imageData.width;
      canvas.height = imageData.height;
      canvas.getContext("2d").putImageData(imageData, 0, 0);
      var scale = Math.min(pad.width / canvas.width, pad.height / canvas.height);
      var w = canvas.width * scale, h = canvas.height * scale;
      clearPad();
      ctx.imageSmoothingQuality = "high";
      ctx.drawImage(canvas, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
      showingUpload = true;
    }, function () { clearPad(); });
  }

  ["file", "camera"].forEach(function (id) {
    var input = document.getElementById(id);
    input.addEventListener("change", function () {
      askFile(input.files && input.files[0]);
      input.value = "";
    });
  });

  ["dragenter", "dragover"].forEach(function (type) {
    dropzone.addEventListener(type, function (event) {
      event.preventDefault();
      dropzone.classList.add("dragging");
    });
  });
  ["dragleave", "drop"].forEach(function (type) {
    dropzone.addEventListener(type, function (event) {
      event.preventDefault();
      dropzone.classList.remove("dragging");
    });
  });
  dropzone.addEventListener("drop", function (event) {
    var files = event.dataTransfer && event.dataTransfer.files;
    if (files && files.length) askFile(files[0]);
  });

  /* ------------------------------------------------------------ start */

  buildBars();
  reset("Draw a digit to start.");
  if (offline) {
    document.getElementById("about").innerHTML = "Exported by <code>mnist export " +
      "--format web</code>: the network runs in this page, offline. Its weights are in " +
      "<code>weights/</code> (one CSV per layer).";
  }
  engine.describe().then(function (info) {
    modelOut.innerHTML = "";
    var name = document.createElement("strong");
    name.textContent = info.name;
    modelOut.appendChild(name);
    modelOut.appendChild(document.createTextNode(" · " + info.detail));
    if (info.title) modelOut.title = info.title;
    document.body.dataset.ready = "1";
  }, function () {
    modelOut.textContent = "The model could not be reached.";
  });
})();
