// WAI-ARIA tabs: one tab stop for the whole tab list, arrow keys / Home / End move between tabs
// (activating them, as there is nothing slow about showing a panel), and the URL hash remembers the view.

export function setupTabs(tablist) {
  const tabs = [...tablist.querySelectorAll('[role="tab"]')];
  const panelOf = (tab) => document.getElementById(tab.getAttribute('aria-controls'));

  function select(tab, { focus = false, updateHash = true } = {}) {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute('aria-selected', String(selected));
      other.tabIndex = selected ? 0 : -1;
      panelOf(other).hidden = !selected;
    }
    if (focus) tab.focus();
    if (updateHash) history.replaceState(null, '', `#${tab.dataset.view}`);
  }

  tablist.addEventListener('click', (event) => {
    const tab = event.target.closest('[role="tab"]');
    if (tab) select(tab);
  });

  tablist.addEventListener('keydown', (event) => {
    const index = tabs.indexOf(document.activeElement);
    if (index === -1) return;
    const next = {
      ArrowRight: tabs[(index + 1) % tabs.length],
      ArrowLeft: tabs[(index - 1 + tabs.length) % tabs.length],
      Home: tabs[0],
      End: tabs[tabs.length - 1],
    }[event.key];
    if (!next) return;
    event.preventDefault();
    select(next, { focus: true });
  });

  const fromHash = () => tabs.find((tab) => `#${tab.dataset.view}` === location.hash);
  window.addEventListener('hashchange', () => {
    const tab = fromHash();
    if (tab) select(tab, { updateHash: false });
  });
  select(fromHash() || tabs[0], { updateHash: false });
}
