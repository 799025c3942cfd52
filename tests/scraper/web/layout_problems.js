// What a phone-sized page must not have, each named so a failure says where: an element that
// spills past its card, a table or label whose text is cut, a word of a query broken across lines.
() => {
  const out = [], name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : '');
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) {
    out.push(`page ${root.scrollWidth} > ${root.clientWidth}`);
  }
  for (const card of document.querySelectorAll('.card')) {
    const box = card.getBoundingClientRect();
    for (const el of card.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (!r.width || el.closest('template') || el.classList.contains('sr-only')) continue;
      if (r.right > box.right + 0.5 || r.left < box.left - 0.5)
        out.push(`${name(el)} [${Math.round(r.left)}, ${Math.round(r.right)}] outside ${name(card)}`);
    }
  }
  for (const el of document.querySelectorAll('.table-wrap, .health b, th, td, label, button'))
    if (el.getBoundingClientRect().width && el.scrollWidth > el.clientWidth + 1)
      out.push(`${name(el)} cut: ${el.scrollWidth} > ${el.clientWidth}`);
  for (const el of document.querySelectorAll('.job-query')) {
    const text = el.firstChild; if (!text || text.nodeType !== 3) continue;
    let at = 0;
    for (const word of text.data.split(' ')) {
      const range = document.createRange(); range.setStart(text, at); range.setEnd(text, at + word.length);
      if (word && range.getClientRects().length > 1) out.push(`${name(el)} breaks '${word}'`);
      at += word.length + 1;
    }
  }
  return out;
}
