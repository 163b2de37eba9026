/* trainsim interactive journey map (Leaflet). Written for trainsim, MIT licence.
 *
 * trainsimMap(map, data) draws the route, the places with their events, the train's simulated
 * median position with a time control, a legend, and the base layers: online tiles when they
 * load, the bundled Natural Earth outlines (and city labels) when they do not. Times are shown
 * from UTC seconds plus the train's own UTC offset, so the page reads the same in any browser
 * time zone. Nothing is logged.
 */
(function () {
  "use strict";

  var WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                "Dec"];
  var MINOR_ZOOM = 8;
  var TRAIN_SVG = '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">' +
    '<path fill="currentColor" d="M12 2c-4 0-7 .5-7 4v9.5C5 17.4 6.6 19 8.5 19L7 20.5v.5h2l2-2h2l2 ' +
    '2h2v-.5L15.5 19c1.9 0 3.5-1.6 3.5-3.5V6c0-3.5-3-4-7-4zM8.5 17a1.5 1.5 0 110-3 1.5 1.5 0 ' +
    '010 3zM11 10H7V6h4v4zm2 0V6h4v4h-4zm2.5 7a1.5 1.5 0 110-3 1.5 1.5 0 010 3z"/></svg>';

  /* Decode an encoded polyline (Google's algorithm) into [lat, lon] pairs. */
  function decode(text, digits) {
    var factor = Math.pow(10, digits);
    var out = [];
    var index = 0, lat = 0, lon = 0;
    while (index < text.length) {
      var pair = [0, 0];
      for (var k = 0; k < 2; k++) {
        var shift = 0, result = 0, b;
        do {
          b = text.charCodeAt(index++) - 63;
          result |= (b & 0x1f) << shift;
          shift += 5;
        } while (b >= 0x20);
        pair[k] = (result & 1) ? ~(result >> 1) : (result >> 1);
      }
      lat += pair[0];
      lon += pair[1];
      out.push([lat / factor, lon / factor]);
    }
    return out;
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  /* "Sun 10 Sep 2023, 16:45" for UTC seconds shifted by an offset in minutes (any browser zone) */
  function formatTime(utcSeconds, offsetMinutes) {
    var d = new Date((utcSeconds + offsetMinutes * 60) * 1000);
    return WEEKDAYS[d.getUTCDay()] + " " + d.getUTCDate() + " " + MONTHS[d.getUTCMonth()] + " " +
      d.getUTCFullYear() + ", " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
  }

  function formatOffset(offsetMinutes) {
    var sign = offsetMinutes < 0 ? "-" : "+";
    var m = Math.abs(offsetMinutes);
    return "UTC" + sign + pad(Math.floor(m / 60)) + ":" + pad(m % 60);
  }

  function el(tag, className, html) {
    var node = L.DomUtil.create(tag, className);
    if (html !== undefined) { node.innerHTML = html; }
    return node;
  }

  function clashes(r, kept) {
    return kept.some(function (k) {
      return r.left < k.right + 2 && r.right + 2 > k.left && r.top < k.bottom + 1 &&
        r.bottom + 1 > k.top;
    });
  }

  /* Hide labels that overlap a more important one (labels are given most important first,
     after those already in `kept`). */
  function declutter(labels, kept) {
    labels.forEach(function (node) {
      if (!node || !node.isConnected) { return; }
      node.style.visibility = "";
      var r = node.getBoundingClientRect();
      if (!r.width) { return; }
      if (clashes(r, kept)) { node.style.visibility = "hidden"; } else { kept.push(r); }
    });
  }

  /* Stop and halt labels (most important first) go right of their marker, or left, above or
     below where that clashes with a label placed before (Nanning beside Đồng Đăng); one that
     fits nowhere is hidden until the reader zooms in. */
  var LABEL_SIDES = [["right", [10, 0]], ["left", [-10, 0]], ["top", [0, -8]],
                     ["bottom", [0, 8]]];
  function placeStopLabels(markers, kept) {
    markers.forEach(function (marker) {
      var tip = marker.getTooltip();
      var node = tip && tip.getElement();
      if (!node || !node.isConnected) { return; }
      node.style.visibility = "";
      for (var i = 0; i < LABEL_SIDES.length; i++) {
        if (tip.options.direction !== LABEL_SIDES[i][0]) {
          tip.options.direction = LABEL_SIDES[i][0];
          tip.options.offset = L.point(LABEL_SIDES[i][1]);
          tip.update();
        }
        var r = node.getBoundingClientRect();
        if (!r.width) { return; }
        if (!clashes(r, kept)) { kept.push(r); return; }
      }
      node.style.visibility = "hidden";
    });
  }

  function cityThreshold(zoom) {
    if (zoom <= 4) { return 5e6; }
    if (zoom <= 5) { return 3e6; }
    if (zoom <= 6) { return 8e5; }
    if (zoom <= 7) { return 4e5; }
    return 0;
  }

  window.trainsimMap = function (map, data) {
    map.options.zoomSnap = 0.25;
    var panes = [["ts-land", 250], ["ts-route", 410], ["ts-minor", 420], ["ts-major", 610],
                 ["ts-train", 660]];
    panes.forEach(function (p) { map.createPane(p[0]).style.zIndex = p[1]; });
    map.getPane("ts-land").style.pointerEvents = "none";
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution(data.credit);

    // ---- base layers: tiles online, bundled outlines offline ---------------------------------
    var offline = L.layerGroup();
    L.polygon(data.outlines.fill.map(function (rings) {
      return rings.map(function (r) { return decode(r, 3); });
    }), {pane: "ts-land", interactive: false, stroke: false, fillColor: "#f6f4ef",
         fillOpacity: 1, fillRule: "nonzero"}).addTo(offline);
    L.polyline(data.outlines.line.map(function (r) { return decode(r, 3); }), {
      pane: "ts-land", interactive: false, color: "#a6a6a6", weight: 0.8
    }).addTo(offline);
    var cityLayer = L.layerGroup().addTo(offline);
    var cityLabels = data.cities.map(function (c) {
      var marker = L.marker([c[0], c[1]], {
        pane: "ts-land", interactive: false, keyboard: false,
        icon: L.divIcon({className: "ts-city" + (c[4] ? " ts-capital" : ""), iconSize: null,
                         html: "<i></i><span>" + escapeHtml(c[2]) + "</span>"})
      });
      marker.population = c[3];
      marker.capital = c[4];
      return marker;
    });
    var bases = {};
    var tileLayers = [];
    data.tiles.forEach(function (t) {
      var layers = t.layers.map(function (spec) {
        var layer = L.tileLayer(spec.url, spec.options);
        tileLayers.push(layer);
        return layer;
      });
      var group = L.layerGroup(layers);
      if (t.overlay) { t.group = group; } else { bases[t.name] = group; }
    });
    bases[data.offlineName] = offline;
    var overlays = {};
    var tileOverlays = [];  // only these go when the tiles fail: the route and the train stay
    data.tiles.forEach(function (t) {
      if (t.overlay) { overlays[t.name] = t.group; tileOverlays.push(t.group); }
    });
    var defaultBase = bases[data.tiles[0].name];
    defaultBase.addTo(map);

    var anyTileLoaded = false;
    var switchedOffline = false;
    function goOffline() {
      if (anyTileLoaded || switchedOffline) { return; }
      switchedOffline = true;
      Object.keys(bases).forEach(function (k) {
        if (bases[k] !== offline && map.hasLayer(bases[k])) { map.removeLayer(bases[k]); }
      });
      tileOverlays.forEach(function (group) {
        if (map.hasLayer(group)) { map.removeLayer(group); }
      });
      offline.addTo(map);
    }
    tileLayers.forEach(function (layer) {
      layer.on("tileload", function () { anyTileLoaded = true; });
      layer.on("tileerror", goOffline);
    });
    if (navigator.onLine === false) { goOffline(); }
    map.on("baselayerchange layeradd layerremove", function () {
      map.getContainer().classList.toggle("ts-offline", map.hasLayer(offline));
    });
    map.getContainer().classList.toggle("ts-offline", map.hasLayer(offline));

    // ---- route --------------------------------------------------------------------------------
    var routeLayer = L.layerGroup().addTo(map);
    data.route.forEach(function (r) {
      r.parts = r.parts.map(function (p) { return decode(p, 5); });
      L.polyline(r.parts, {
        pane: "ts-route", color: "#fff", weight: 7, opacity: 0.85, interactive: false
      }).addTo(routeLayer);
      if (r.approximate) {
        L.polyline(r.parts, {pane: "ts-route", color: r.colour, weight: 1.5, interactive: false})
          .addTo(routeLayer);
      }
      L.polyline(r.parts, {
        pane: "ts-route", color: r.colour, weight: 4, opacity: 1,
        dashArray: r.approximate ? "7 6" : null
      }).bindTooltip(escapeHtml(r.tip), {sticky: true}).addTo(routeLayer);
    });

    // ---- places: minor stations (zoom in), then events and stops above them -------------------
    var minorLayer = L.layerGroup().addTo(map);
    var renderer = L.canvas({pane: "ts-minor"});
    var m = data.minor;
    for (var i = 0; i < m.lat.length; i++) {
      L.circleMarker([m.lat[i], m.lon[i]], {
        renderer: renderer, radius: 3.5, color: "#fff", weight: 1, fillColor: "#666",
        fillOpacity: 1
      }).bindPopup(minorPopup(i), {maxWidth: 320})
        .bindTooltip(escapeHtml(m.name[i]), {direction: "top"}).addTo(minorLayer);
    }
    function minorPopup(j) {
      return function () {
        var off = m.offset[j];
        return "<div class='ts-popup'><b>" + escapeHtml(m.name[j]) + "</b>" +
          "<div class='ts-sub'>station passed · km " + m.km[j].toLocaleString("en") + "</div>" +
          "<table><tr><td>passes</td><td>" + formatTime(m.median[j], off) + " <span class='ts-zone'>" +
          formatOffset(off) + "</span><div class='ts-band'>5–95 %: " +
          formatTime(m.p05[j], off).slice(4) + " – " + formatTime(m.p95[j], off).slice(4) +
          "</div></td></tr></table></div>";
      };
    }
    function showMinor() {
      map.getPane("ts-minor").style.display = map.getZoom() >= MINOR_ZOOM ? "" : "none";
    }

    var placeLayer = L.layerGroup().addTo(map);
    var stopLabels = [];
    data.places.forEach(function (p) {
      var marker = L.marker([p.lat, p.lon], {
        pane: "ts-major", riseOnHover: true, title: p.name, alt: p.name,
        zIndexOffset: p.rank * 100,
        icon: L.divIcon({className: "ts-place ts-" + p.category + (p.reported ? " ts-reported" : ""),
                         iconSize: [p.size, p.size]})
      }).bindPopup(p.popup, {maxWidth: 380, minWidth: 240});
      if (p.label) {
        marker.bindTooltip(escapeHtml(p.name), {permanent: true, direction: p.labelSide,
                                                 className: "ts-label", offset: p.labelOffset});
      } else {
        marker.bindTooltip(escapeHtml(p.name), {direction: "top"});
      }
      marker.addTo(placeLayer);
      marker.getElement().setAttribute("data-place", p.name);
      if (p.label) { stopLabels.push([p.labelPriority, marker]); }
    });
    stopLabels = stopLabels.sort(function (a, b) { return a[0] - b[0]; })
      .map(function (pair) { return pair[1]; });

    // ---- the train ----------------------------------------------------------------------------
    var tr = data.track;
    var train = L.marker([tr.lat[0], tr.lon[0]], {
      pane: "ts-train", zIndexOffset: 10000, title: "the train (simulated median position)",
      alt: "train", keyboard: true,
      icon: L.divIcon({className: "ts-train", iconSize: [30, 30], html: TRAIN_SVG})
    }).bindPopup("", {maxWidth: 360, minWidth: 240, autoPan: false}).addTo(map);
    // The popup's content changes at every step: panning to it each time (Leaflet's autoPan)
    // would drag the map along while playing, so it is brought into view once, when opened,
    // clear of the title and the time control.
    train.on("popupopen", function (e) {
      var box = e.popup.getElement().getBoundingClientRect();
      var page = map.getContainer().getBoundingClientRect();
      var top = title.getContainer().getBoundingClientRect().bottom + 10;
      var bottom = control.getContainer().getBoundingClientRect().top - 10;
      var dx = Math.min(box.left - page.left - 10, 0) || Math.max(box.right - page.right + 10, 0);
      var dy = Math.min(box.top - top, 0) || Math.max(box.bottom - bottom, 0);
      if (dx || dy) { map.panBy([dx, dy]); }
    });

    var frame = 0;
    var timer = null;
    var control = L.control({position: "bottomleft"});
    var ui = {};
    control.onAdd = function () {
      var box = el("div", "ts-time leaflet-bar");
      ui.clock = el("div", "ts-clock", "");
      ui.state = el("div", "ts-state", "");
      var row = el("div", "ts-row");
      function button(cls, title, svg) {
        var b = el("button", "ts-btn " + cls, svg);
        b.type = "button";
        b.title = title;
        b.setAttribute("aria-label", title);
        row.appendChild(b);
        return b;
      }
      ui.first = button("ts-first", "to departure",
        '<svg viewBox="0 0 16 16"><path d="M3 3h2v10H3zM13 3v10L6 8z"/></svg>');
      ui.prev = button("ts-prev", "step back",
        '<svg viewBox="0 0 16 16"><path d="M12 3v10L4 8z"/></svg>');
      ui.play = button("ts-play", "play",
        '<svg viewBox="0 0 16 16"><path class="ts-icon-play" d="M4 3v10l9-5z"/>' +
        '<path class="ts-icon-pause" d="M4 3h3v10H4zM9 3h3v10H9z"/></svg>');
      ui.next = button("ts-next", "step forward",
        '<svg viewBox="0 0 16 16"><path d="M4 3v10l8-5z"/></svg>');
      ui.last = button("ts-last", "to arrival",
        '<svg viewBox="0 0 16 16"><path d="M11 3h2v10h-2zM3 3v10l7-5z"/></svg>');
      ui.slider = el("input", "ts-slider");
      ui.slider.type = "range";
      ui.slider.min = 0;
      ui.slider.max = tr.t.length - 1;
      ui.slider.step = 1;
      ui.slider.value = 0;
      ui.slider.setAttribute("aria-label", "time");
      row.appendChild(ui.slider);
      ui.speed = el("select", "ts-speed");
      ui.speed.title = "playback speed";
      [[1, "×1"], [3, "×3"], [12, "×12"]].forEach(function (s) {
        var o = el("option", "", s[1]);
        o.value = s[0];
        ui.speed.appendChild(o);
      });
      ui.speed.value = 3;
      row.appendChild(ui.speed);
      box.appendChild(ui.clock);
      box.appendChild(ui.state);
      box.appendChild(row);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      ui.first.onclick = function () { stop(); show(0); };
      ui.prev.onclick = function () { stop(); show(frame - 1); };
      ui.next.onclick = function () { stop(); show(frame + 1); };
      ui.last.onclick = function () { stop(); show(tr.t.length - 1); };
      ui.play.onclick = function () { if (timer) { stop(); } else { play(); } };
      ui.slider.oninput = function () { stop(); show(parseInt(ui.slider.value, 10)); };
      return box;
    };
    control.addTo(map);

    function trainPopup(j) {
      var off = tr.offset[j];
      var zone = tr.zones[tr.zone[j]];
      return "<div class='ts-popup'><b>The train</b><div class='ts-sub'>simulated median " +
        "position (" + escapeHtml(data.runs) + ")</div><table>" +
        "<tr><td>place</td><td>" + escapeHtml(tr.places[tr.place[j]]) + "</td></tr>" +
        "<tr><td>km</td><td>" + tr.km[j].toLocaleString("en", {maximumFractionDigits: 0}) +
        " of " + data.lengthKm + "</td></tr>" +
        "<tr><td>local time</td><td>" + formatTime(tr.t[j], off) + " <span class='ts-zone'>" +
        escapeHtml(zone) + ", " + formatOffset(off) + "</span></td></tr>" +
        "<tr><td>UTC</td><td>" + formatTime(tr.t[j], 0) + "</td></tr>" +
        "<tr><td>state</td><td>" + escapeHtml(tr.states[tr.state[j]]) + "</td></tr></table></div>";
    }

    function show(j) {
      frame = Math.max(0, Math.min(tr.t.length - 1, j));
      var off = tr.offset[frame];
      train.setLatLng([tr.lat[frame], tr.lon[frame]]);
      train.setPopupContent(trainPopup(frame));
      var halted = tr.halted[frame] === 1;
      train.getElement().classList.toggle("ts-halted", halted);
      ui.clock.innerHTML = "<span class='ts-local'>" + formatTime(tr.t[frame], off) + "</span> " +
        "<span class='ts-zone'>" + escapeHtml(tr.zones[tr.zone[frame]]) + " (" +
        formatOffset(off) + ")</span> · <span class='ts-utc'>" +
        formatTime(tr.t[frame], 0).slice(-5) + " UTC</span>";
      ui.state.textContent = tr.states[tr.state[frame]] + " · " + tr.places[tr.place[frame]] +
        " · km " + tr.km[frame].toLocaleString("en", {maximumFractionDigits: 0});
      ui.state.classList.toggle("ts-state-halted", halted);
      ui.slider.value = frame;
    }

    function play() {
      if (frame >= tr.t.length - 1) { show(0); }
      ui.play.classList.add("ts-playing");
      ui.play.title = "pause";
      timer = window.setInterval(function () {
        var next = frame + parseInt(ui.speed.value, 10);
        show(next);
        if (next >= tr.t.length - 1) { stop(); }
      }, 250);
    }

    function stop() {
      if (timer) { window.clearInterval(timer); }
      timer = null;
      ui.play.classList.remove("ts-playing");
      ui.play.title = "play";
    }

    // ---- title, zoom, layer switcher, legend ------------------------------------------------
    var title = L.control({position: "topleft"});
    title.onAdd = function () { return el("div", "ts-title", data.titleHtml); };
    title.addTo(map);
    L.control.zoom({position: "topleft"}).addTo(map);
    overlays["Route"] = routeLayer;
    overlays["Stops, borders, halts"] = placeLayer;
    overlays["Stations (zoom in to see)"] = minorLayer;
    overlays["Train"] = train;
    L.control.layers(bases, overlays, {position: "topright", collapsed: true}).addTo(map);
    var legend = L.control({position: "topright"});
    legend.onAdd = function () {
      var box = el("details", "ts-legend", data.legend);
      box.open = true;
      Array.prototype.forEach.call(box.querySelectorAll(".ts-train-key"), function (k) {
        k.innerHTML = TRAIN_SVG;
      });
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    legend.addTo(map);

    function refreshLabels() {
      showMinor();
      var z = map.getZoom();
      var showOffline = map.hasLayer(offline);
      var threshold = cityThreshold(z);
      cityLabels.forEach(function (c) {
        var want = showOffline && (c.population >= threshold || (c.capital && z >= 4));
        if (want && !cityLayer.hasLayer(c)) { cityLayer.addLayer(c); }
        if (!want && cityLayer.hasLayer(c)) { cityLayer.removeLayer(c); }
      });
      var kept = [];
      placeStopLabels(stopLabels, kept);
      var nodes = [];
      cityLabels.forEach(function (c) { if (cityLayer.hasLayer(c)) { nodes.push(c.getElement()); } });
      declutter(nodes, kept);
    }
    map.on("zoomend moveend layeradd layerremove", refreshLabels);

    var bounds = L.latLngBounds(data.bounds);
    /* fit the route between the title (top left), legend (right) and time control (bottom) */
    function fit() {
      var mapBox = map.getContainer().getBoundingClientRect();
      var titleBox = title.getContainer().getBoundingClientRect();
      var legendBox = legend.getContainer().getBoundingClientRect();
      var timeBox = control.getContainer().getBoundingClientRect();
      map.fitBounds(bounds, {
        paddingTopLeft: [60, titleBox.bottom - mapBox.top + 15],
        paddingBottomRight: [mapBox.right - legendBox.left + 15, mapBox.bottom - timeBox.top + 15],
        maxZoom: 11,
        // at once: the least zoom below is set from this one, and an animation still running
        // left getZoom() at the page's first zoom (the outlines' edge showed when zoomed out)
        animate: false
      });
    }
    show(0);
    fit();
    // popups open clear of the title, the legend and the time control
    var mapBox = map.getContainer().getBoundingClientRect();
    L.Popup.prototype.options.autoPanPaddingTopLeft = L.point(
      10, title.getContainer().getBoundingClientRect().bottom - mapBox.top + 10);
    L.Popup.prototype.options.autoPanPaddingBottomRight = L.point(
      10, mapBox.bottom - control.getContainer().getBoundingClientRect().top + 10);
    // the outlines reach a few zoom levels out from the route, not the whole world
    map.setMinZoom(Math.max(map.getZoom() - data.minZoomBelowFit, 2));
    show(0);
    refreshLabels();
    window.trainsim = {map: map, train: train, show: show, frames: tr.t.length,
                       frame: function () { return frame; }, bounds: bounds, fit: fit};
  };
}());
