/* Results of one question, drawn from its anonymous tally (and, on the teacher's dashboard, from
 * the answers themselves, with names unless the teacher hides them). Plain HTML and SVG, sized
 * in CSS pixels so that what is measured is what the back row sees. */
(function () {
  "use strict";
  const { el } = window.UI;
  const SVG = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    children.forEach((child) => node.append(child));
    return node;
  }

  /* 3 → "3", 2.5 → "2.5", 1234.5678 → "1,235": short enough to sit under a bar. */
  function number(value) {
    if (!Number.isFinite(value)) return "–";
    const digits = Math.abs(value) >= 100 || Number.isInteger(value) ? 0 : Math.abs(value) >= 10 ? 1 : 2;
    return value.toLocaleString("en", { maximumFractionDigits: digits });
  }

  const { plural } = window.UI;

  function bars(question, tally) {
    const counts = tally.counts || [];
    const total = Math.max(1, tally.answered || 0);
    const correct = new Set((question.config && question.config.correct) || []);
    return el(
      "ol",
      { class: "bars", "aria-label": "Answers per choice" },
      (question.config.choices || []).map((choice, index) => {
        const count = counts[index] || 0;
        const share = Math.round((100 * count) / total);
        return el(
          "li",
          { class: correct.has(index) ? "bar correct" : "bar" },
          el("span", { class: "bar-label" }, el("span", { class: "bar-letter", "aria-hidden": "true" }, String.fromCharCode(65 + index)), choice,
            correct.has(index) ? el("span", { class: "bar-mark" }, el("span", { "aria-hidden": "true" }, " ✓"), el("span", { class: "visually-hidden" }, " (correct)")) : null),
          el("span", { class: "bar-track", "aria-hidden": "true" }, el("span", { class: "bar-fill", style: `width:${share}%` })),
          el("span", { class: "bar-count" }, `${count}`),
          el("span", { class: "bar-share" }, `${share}%`),
        );
      }),
    );
  }

  /* A column per bin, each labelled with its count; under them an axis with the bins' values
   * (one label per bar for whole numbers, the edges otherwise). */
  function histogram(tally) {
    const histogram = tally.histogram;
    if (!histogram) return el("p", { class: "muted empty-results" }, "No numbers yet.");
    const counts = histogram.counts;
    const edges = histogram.edges;
    const peak = Math.max(1, ...counts);
    const single = counts.length === 1; // every answer was the same number
    const valueOf = (index) => (histogram.integers ? edges[index] + 0.5 : single ? edges[0] : null);
    const binName = (index) =>
      valueOf(index) !== null ? number(valueOf(index)) : `${number(edges[index])} to ${number(edges[index + 1])}`;
    const columns = el(
      "ol",
      { class: "hist-bars", style: `--bins:${counts.length}` },
      counts.map((count, index) =>
        el(
          "li",
          { class: "hist-bin" + (count ? "" : " empty"), style: `--share:${count / peak}` },
          el("span", { class: "hist-count" }, `${count}`),
          el("span", { class: "hist-bar", "aria-hidden": "true" }),
          el("span", { class: "visually-hidden" }, ` ${count === 1 ? "answer" : "answers"}: ${binName(index)}`),
        ),
      ),
    );
    const axis = el("div", { class: "hist-axis", "aria-hidden": "true", style: `--bins:${counts.length}` });
    if (histogram.integers || single) {
      counts.forEach((_count, index) => axis.append(el("span", { class: "hist-tick centred", style: `--at:${index}` }, number(valueOf(index)))));
    } else {
      // Every edge when they fit, else every other one (and always the last).
      const step = edges.length > 6 ? 2 : 1;
      edges.forEach((edge, index) => {
        if (index % step === 0 || index === edges.length - 1) axis.append(el("span", { class: "hist-tick", style: `--at:${index}` }, number(edge)));
      });
    }
    const s = tally.summary;
    return el(
      "figure",
      { class: "histogram", "aria-label": "How many gave each number" },
      columns,
      axis,
      el("figcaption", { class: "summary" },
        el("span", {}, el("b", {}, "Mean "), number(s.mean)),
        el("span", {}, el("b", {}, "Median "), number(s.median)),
        el("span", {}, el("b", {}, "Range "), `${number(s.min)} – ${number(s.max)}`),
        el("span", {}, plural(s.count, "answer"))),
    );
  }

  function imageOf(question) {
    return (question.config && question.config.image_url) || question.image_url || "";
  }

  /* The board a point is placed on: the question's image, or a plain grid when it has none. */
  function board(question, className, label) {
    const image = imageOf(question);
    return el(
      "div",
      { class: className + (image ? "" : " no-image"), role: "img", "aria-label": label },
      image ? el("img", { src: image, alt: "", draggable: "false" }) : null,
    );
  }

  function dots(question, tally) {
    const points = tally.points || [];
    const box = board(question, "dot-board", `${plural(points.length, "point")} placed on the image`);
    points.forEach(([x, y]) => box.append(el("span", { class: "dot", style: `left:${x * 100}%;top:${y * 100}%` })));
    return box;
  }

  /* One student's point on the image: the roster's and the takeaways' thumbnail. */
  function pointThumb(question, answer, extraClass) {
    const box = board(question, "dot-board thumb " + (extraClass || ""), `Point at ${Math.round(answer.x * 100)}% across, ${Math.round(answer.y * 100)}% down`);
    box.append(el("span", { class: "dot", style: `left:${answer.x * 100}%;top:${answer.y * 100}%` }));
    return box;
  }

  function drawingSvg(answer, extraClass, label, background) {
    const drawing = svg("svg", {
      viewBox: "0 0 1 1",
      preserveAspectRatio: "none",
      class: "drawing " + (extraClass || ""),
      role: "img",
      "aria-label": label || "Drawing",
    });
    if (background) drawing.append(svg("image", { href: background, x: 0, y: 0, width: 1, height: 1, preserveAspectRatio: "none" }));
    for (const stroke of answer.strokes || []) {
      const points = stroke.points.map(([x, y]) => `${x},${y}`).join(" ");
      drawing.append(
        svg("polyline", {
          points,
          fill: "none",
          stroke: stroke.color || "#222",
          "stroke-width": (stroke.width || 3) / 300,
          "stroke-linecap": "round",
          "stroke-linejoin": "round",
        }),
      );
    }
    return drawing;
  }

  /* drawings: [{answer, who, starred}] */
  function gallery(question, drawings) {
    const background = question.config && question.config.background_url;
    return el(
      "ul",
      { class: "gallery", "aria-label": plural(drawings.length, "drawing") },
      drawings.map((d, index) =>
        el("li", { class: "tile" + (d.starred ? " starred" : "") },
          drawingSvg(d.answer, "", d.who ? `${d.who}'s drawing` : `Drawing ${index + 1}`, background),
          d.who ? el("span", { class: "who" }, d.who) : null,
          d.starred ? el("span", { class: "star-badge" }, "★", el("span", { class: "visually-hidden" }, " starred")) : null)),
    );
  }

  /* options.responses: [{answer, student_name, starred}] (teacher only); options.hideNames */
  function render(container, question, tally, options = {}) {
    container.replaceChildren();
    if (!question) return;
    if (question.kind === "slide") {
      container.append(el("div", { class: "slide-body" }, (question.config && question.config.body) || ""));
      return;
    }
    tally = tally || { answered: 0 };
    const who = (r) => (options.hideNames ? null : r.student_name);
    switch (question.kind) {
      case "multiple_choice":
        container.append(bars(question, tally));
        break;
      case "number":
        container.append(histogram(tally));
        break;
      case "draggable":
        container.append(dots(question, tally));
        break;
      case "text": {
        const texts = options.responses
          ? options.responses.map((r) => ({ text: r.answer.text, who: who(r), starred: r.starred }))
          : (tally.texts || []).map((text) => ({ text }));
        container.append(
          texts.length
            ? el("ul", { class: "text-answers" }, texts.map((t) => el("li", { class: t.starred ? "starred" : "" }, el("q", {}, t.text), t.who ? el("span", { class: "who" }, t.who) : null)))
            : el("p", { class: "muted empty-results" }, "No answers yet."),
        );
        break;
      }
      case "drawing": {
        const drawings = options.responses
          ? options.responses.map((r) => ({ answer: r.answer, who: who(r), starred: r.starred }))
          : (tally.drawings || []).map((answer) => ({ answer }));
        if (!drawings.length) {
          container.append(el("p", { class: "muted empty-results" }, tally.answered ? plural(tally.answered, "drawing") : "No drawings yet."));
          break;
        }
        container.append(gallery(question, drawings));
        break;
      }
    }
    fit(container);
  }

  /* A gallery takes as many columns as it needs for every tile to fit the height it has left
   * on screen, so no drawing is ever scrolled out of sight of the class. */
  function fit(container) {
    const list = container.querySelector(".gallery");
    if (!list || !list.isConnected) return;
    const count = list.children.length;
    const bottom = Math.min(window.innerHeight, (container.closest("[data-fit-bottom]") || document.body).getBoundingClientRect().bottom);
    const height = Math.max(120, bottom - list.getBoundingClientRect().top - 8);
    const width = list.clientWidth || container.clientWidth;
    const gap = 12;
    const labelled = Boolean(list.querySelector(".who"));
    let columns = 1;
    for (; columns < count; columns++) {
      const tileWidth = (width - gap * (columns - 1)) / columns;
      const tileHeight = tileWidth * 0.75 + (labelled ? 24 : 0);
      const rows = Math.ceil(count / columns);
      if (rows * tileHeight + (rows - 1) * gap <= height) break;
    }
    // Few drawings do not stretch across a wide screen.
    const rows = Math.ceil(count / columns);
    const tallest = (height - gap * (rows - 1)) / rows - (labelled ? 24 : 0);
    list.style.setProperty("--columns", String(columns));
    list.style.setProperty("--tile-max", `${Math.max(80, Math.floor((tallest * 4) / 3))}px`);
  }

  window.Charts = { render, drawingSvg, pointThumb, imageOf, fit, number };
})();
